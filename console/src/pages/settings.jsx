import { useState } from 'preact/hooks';
import { Async, Card, ErrorMessage, Table, useApiData, useApp } from '../components/ui.jsx';

// Settings: the identity rules, the tag and keyword rules, and LINE auto-replies. Each card reads
// its document, edits a copy and saves it with the version it read (a stale save is a 409, shown
// in words; reload and try again).
export const strings = {
  en: {
    title: 'Settings',
    identity: 'Identity rules',
    identityHint: 'How profiles are joined: values never used to join people, how many identifiers of a type one person may have, and which identifier wins.',
    blocked: 'Blocked values (one per line)',
    maxPerType: 'Most identifiers per person (type=count, one per line)',
    priority: 'Priority (identifier types, comma separated)',
    tags: 'Tag and keyword rules',
    tagsHint: 'LINE messages that match a keyword tag the sender (and can reply); postbacks set traits and tags.',
    keyword: 'Keyword',
    match: 'Match',
    contains: 'contains',
    equals: 'equals',
    regex: 'regex',
    tag: 'Tag',
    reply: 'Reply template',
    add: 'Add rule',
    remove: 'Remove',
    postbacks: 'Postback rules',
    conditions: 'Conditions',
    trait: 'Trait',
    replies: 'Auto-replies',
    repliesHint: 'LINE templates sent when someone adds the account (greeting) or writes something no keyword matches (fallback).',
    channel: 'LINE channel',
    greeting: 'Greeting template',
    fallback: 'Fallback template',
    addChannel: 'Add channel',
    save: 'Save',
    saving: 'Saving…',
    saved: 'Saved (version {v}).',
    version: 'Version {v}',
    none: 'No rules yet.',
  },
  'zh-TW': {
    title: '設定',
    identity: '身分識別規則',
    identityHint: '顧客資料如何合併：不用來合併的值、每位顧客同類識別碼的上限，以及識別碼的優先順序。',
    blocked: '封鎖值（每行一個）',
    maxPerType: '每人識別碼上限（類型=數量，每行一個）',
    priority: '優先順序（識別碼類型，以逗號分隔）',
    tags: '標籤與關鍵字規則',
    tagsHint: '符合關鍵字的 LINE 訊息會為傳送者加上標籤（並可回覆）；Postback 可設定屬性與標籤。',
    keyword: '關鍵字',
    match: '比對方式',
    contains: '包含',
    equals: '等於',
    regex: '正規表示式',
    tag: '標籤',
    reply: '回覆範本',
    add: '新增規則',
    remove: '移除',
    postbacks: 'Postback 規則',
    conditions: '條件',
    trait: '屬性',
    replies: '自動回覆',
    repliesHint: '有人加入好友時（歡迎訊息）或訊息沒有符合任何關鍵字時（預設回覆）送出的 LINE 範本。',
    channel: 'LINE 官方帳號',
    greeting: '歡迎訊息範本',
    fallback: '預設回覆範本',
    addChannel: '新增官方帳號',
    save: '儲存',
    saving: '儲存中…',
    saved: '已儲存（版本 {v}）。',
    version: '版本 {v}',
    none: '尚無規則。',
  },
};

// A card that edits one versioned document: load, edit a draft, save with the version read.
function useDocument(path) {
  const { api } = useApp();
  const state = useApiData((client) => client.get(path), [path]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(null);
  const save = async (document) => {
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      const answer = await api.put(path, document);
      setSaved(answer.version);
      state.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return { state, busy, error, saved, save };
}

function SaveBar({ doc, t, testid }) {
  const { can = () => true } = useApp();
  if (!can('admin')) return null; // settings are changed by admins only (docs/access.md)
  return (
    <div class="row" style={{ marginTop: '0.75rem', alignItems: 'center' }}>
      <button type="submit" class="primary" disabled={doc.busy} data-testid={`${testid}-save`}>
        {doc.busy ? t('saving') : t('save')}
      </button>
      {doc.saved !== null && (
        <span class="pill ok" data-testid={`${testid}-saved`}>
          {t('saved', { v: doc.saved })}
        </span>
      )}
      <ErrorMessage error={doc.error} testid={`${testid}-error`} />
    </div>
  );
}

function IdentityForm({ rules, doc, t }) {
  const [blocked, setBlocked] = useState(rules.blocked_values.join('\n'));
  const [limits, setLimits] = useState(Object.entries(rules.max_per_type).map(([k, v]) => `${k}=${v}`).join('\n'));
  const [priority, setPriority] = useState(rules.priority.join(', '));
  const submit = (event) => {
    event.preventDefault();
    const lines = (text) => text.split('\n').map((x) => x.trim()).filter(Boolean);
    const maxPerType = {};
    for (const line of lines(limits)) {
      const [type, count] = line.split('=').map((x) => x.trim());
      maxPerType[type] = /^\d+$/.test(count || '') ? Number(count) : count;
    }
    // Blank values (the empty string is blocked by default) cannot be shown as lines: kept as read.
    const blank = rules.blocked_values.filter((v) => v.trim() === '');
    doc.save({
      version: rules.version,
      blocked_values: [...new Set([...blank, ...lines(blocked)])],
      max_per_type: maxPerType,
      priority: priority.split(',').map((x) => x.trim()).filter(Boolean),
    });
  };
  return (
    <form onSubmit={submit} style={{ display: 'grid', gap: '0.5rem' }}>
      <label>
        {t('blocked')}
        <textarea rows="4" value={blocked} onInput={(e) => setBlocked(e.currentTarget.value)} data-testid="settings-identity-blocked" />
      </label>
      <label>
        {t('maxPerType')}
        <textarea rows="3" value={limits} onInput={(e) => setLimits(e.currentTarget.value)} data-testid="settings-identity-max" />
      </label>
      <label>
        {t('priority')}
        <input value={priority} onInput={(e) => setPriority(e.currentTarget.value)} data-testid="settings-identity-priority" />
      </label>
      <SaveBar doc={doc} t={t} testid="settings-identity" />
    </form>
  );
}

function TagRulesForm({ rules, doc, t }) {
  const [keywords, setKeywords] = useState(rules.keywords);
  const [draft, setDraft] = useState({ keyword: '', match: 'contains', tag: '' });
  const add = () => {
    if (!draft.keyword.trim()) return;
    setKeywords([...keywords, { keyword: draft.keyword.trim(), match: draft.match, tag: draft.tag.trim() || null }]);
    setDraft({ keyword: '', match: 'contains', tag: '' });
  };
  const submit = (event) => {
    event.preventDefault();
    doc.save({ version: rules.version, keywords, postbacks: rules.postbacks });
  };
  const columns = [
    { key: 'keyword', label: t('keyword') },
    { key: 'match', label: t('match'), render: (r) => t(r.match) },
    { key: 'tag', label: t('tag') },
    { key: 'reply', label: t('reply'), value: (r) => r.reply?.template_id },
    {
      key: 'remove',
      label: '',
      render: (r) => (
        <button type="button" class="link" onClick={() => setKeywords(keywords.filter((k) => k !== r))} data-testid="settings-tags-remove">
          {t('remove')}
        </button>
      ),
    },
  ];
  return (
    <form onSubmit={submit}>
      <Table testid="settings-tags-table" columns={columns} rows={keywords} empty={t('none')} />
      <div class="row" style={{ marginTop: '0.5rem' }}>
        <label>
          {t('keyword')}
          <input value={draft.keyword} onInput={(e) => setDraft({ ...draft, keyword: e.currentTarget.value })} data-testid="settings-tags-keyword" />
        </label>
        <label>
          {t('match')}
          <select value={draft.match} onChange={(e) => setDraft({ ...draft, match: e.currentTarget.value })} data-testid="settings-tags-match">
            {['contains', 'equals', 'regex'].map((m) => (
              <option value={m} key={m}>
                {t(m)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('tag')}
          <input value={draft.tag} onInput={(e) => setDraft({ ...draft, tag: e.currentTarget.value })} data-testid="settings-tags-tag" />
        </label>
        <button type="button" onClick={add} data-testid="settings-tags-add">
          {t('add')}
        </button>
      </div>
      {rules.postbacks.length > 0 && (
        <div style={{ marginTop: '1rem' }}>
          <h3>{t('postbacks')}</h3>
          <Table
            testid="settings-postbacks-table"
            columns={[
              { key: 'match', label: t('conditions'), value: (r) => Object.entries(r.match).map(([k, v]) => `${k}=${v}`).join(' & ') },
              { key: 'trait', label: t('trait') },
              { key: 'tag', label: t('tag') },
            ]}
            rows={rules.postbacks}
          />
        </div>
      )}
      <SaveBar doc={doc} t={t} testid="settings-tags" />
    </form>
  );
}

function RepliesForm({ replies, doc, t }) {
  const initial = Object.entries(replies.channels).map(([channel, r]) => ({ channel, greeting: r.greeting, fallback: r.fallback }));
  const [rows, setRows] = useState(initial.length ? initial : [{ channel: 'default', greeting: null, fallback: null }]);
  const setTemplate = (i, which, templateId) => {
    const next = rows.slice();
    const current = next[i][which];
    next[i] = { ...next[i], [which]: templateId ? { ...(current || {}), template_id: templateId } : null };
    setRows(next);
  };
  const submit = (event) => {
    event.preventDefault();
    const channels = {};
    for (const row of rows) {
      if (!row.channel.trim()) continue;
      channels[row.channel.trim()] = { greeting: row.greeting, fallback: row.fallback };
    }
    doc.save({ version: replies.version, channels });
  };
  return (
    <form onSubmit={submit}>
      {rows.map((row, i) => (
        <div class="row" key={i} style={{ marginBottom: '0.5rem' }}>
          <label>
            {t('channel')}
            <input value={row.channel} onInput={(e) => setRows(rows.map((r, j) => (j === i ? { ...r, channel: e.currentTarget.value } : r)))} data-testid="settings-replies-channel" />
          </label>
          <label>
            {t('greeting')}
            <input value={row.greeting?.template_id || ''} onInput={(e) => setTemplate(i, 'greeting', e.currentTarget.value.trim())} data-testid="settings-replies-greeting" />
          </label>
          <label>
            {t('fallback')}
            <input value={row.fallback?.template_id || ''} onInput={(e) => setTemplate(i, 'fallback', e.currentTarget.value.trim())} data-testid="settings-replies-fallback" />
          </label>
        </div>
      ))}
      <button type="button" onClick={() => setRows([...rows, { channel: '', greeting: null, fallback: null }])} data-testid="settings-replies-add">
        {t('addChannel')}
      </button>
      <SaveBar doc={doc} t={t} testid="settings-replies" />
    </form>
  );
}

export default function SettingsPage({ t }) {
  const identity = useDocument('/admin/v1/identity/rules');
  const tags = useDocument('/admin/v1/tags/rules');
  const replies = useDocument('/admin/v1/auto-replies');
  return (
    <div>
      <h1>{t('title')}</h1>
      <Card title={t('identity')} testid="settings-identity">
        <p class="hint">{t('identityHint')}</p>
        <Async state={identity.state} testid="settings-identity">
          {(rules) => <IdentityForm rules={rules} doc={identity} t={t} key={rules.version} />}
        </Async>
      </Card>
      <Card title={t('tags')} testid="settings-tags">
        <p class="hint">{t('tagsHint')}</p>
        <Async state={tags.state} testid="settings-tags">
          {(rules) => <TagRulesForm rules={rules} doc={tags} t={t} key={rules.version} />}
        </Async>
      </Card>
      <Card title={t('replies')} testid="settings-replies">
        <p class="hint">{t('repliesHint')}</p>
        <Async state={replies.state} testid="settings-replies">
          {(data) => <RepliesForm replies={data} doc={replies} t={t} key={data.version} />}
        </Async>
      </Card>
    </div>
  );
}
