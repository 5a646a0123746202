import { useEffect, useRef, useState } from 'preact/hooks';
import { Async, Card, Empty, ErrorMessage, Table, useApiData, useApp } from '../components/ui.jsx';
import { formatDateTime, formatMoney, formatNumber } from '../i18n.js';
import { routeHref } from '../registry.js';

export const strings = {
  en: {
    title: 'People',
    searchBy: 'Search by',
    phone: 'Phone', email: 'Email', member_id: 'Member ID', line: 'LINE user ID', name: 'Name starts with', tag: 'Tag', trait: 'Trait (name=value)',
    search: 'Search', placeholder: 'e.g. 0912 345 678', traitPlaceholder: 'e.g. city=Taipei',
    results: 'Results', noResults: 'Nobody matches.', traitFormat: 'Write the trait as name=value, e.g. city=Taipei.',
    colName: 'Name', colLine: 'LINE', colTags: 'Tags', colChannels: 'Channels', colLtv: 'Lifetime value',
    back: '← Back to search', mergedInto: 'This person was merged into {id}; showing the surviving person.',
    identifiers: 'Identifiers', traits: 'Traits', computed: 'Computed traits', reach: 'Consent and reachability',
    tags: 'Tags', segments: 'Segments', merges: 'Merges', timeline: 'Timeline', noTags: 'No tags.', noSegments: 'Not in any segment.',
    noMerges: 'No merges into this person.', channels: 'Channels', orders: 'Orders', revenue: 'Revenue', firstSeen: 'First seen', lastSeen: 'Last seen',
    type: 'Type', value: 'Value', added: 'Added', channel: 'Channel', reachable: 'Reachable', consent: 'Consent', yes: 'Yes', no: 'No', unknown: 'Not asked',
    granted: 'Granted', withdrawn: 'Withdrawn', entered: 'Entered', merge: 'Merge', from: 'Merged person', status: 'Status', when: 'When', moved: 'Events moved',
    undo: 'Undo merge', undoing: 'Undoing…', confirmUndo: 'Split {loser} out of this person again?', undone: 'The merge is being undone; this page refreshes when it is done.',
    event: 'Event', time: 'Time', details: 'Details', more: 'Load older events', noEvents: 'No events yet.', lineStatus: 'LINE status',
    maskedNote: 'Phones and emails are masked.', reveal: 'Show them (recorded in the audit log)',
    revealedNote: 'Phones and emails are shown; this view is recorded in the audit log.', hide: 'Mask them again',
    st_friend: 'Friend', st_blocked: 'Blocked', st_never_followed: 'Never a friend', st_unknown: 'Unknown', st_merged: 'Merged', st_unmerged: 'Undone', st_unmerging: 'Undoing', st_rejected: 'Refused', st_planned: 'Planned', st_merging: 'Merging',
    consentHistory: 'Consent history', noConsent: 'No consent recorded.', purpose: 'Purpose', source: 'Source', textVersion: 'Text version', confirmed: 'Confirmed again',
    exportTitle: 'Data export', exportHint: 'Everything held about this person, for a request to see their data: one JSON document and the timeline as CSV.',
    exportStart: 'Export this person\'s data', exportRunning: 'Exporting… {stage} ({done} of {total})', exportJson: 'Download JSON ({size})', exportCsv: 'Timeline CSV ({size})',
    exportLinks: 'The links work for 15 minutes; export again for new ones while the files are kept (7 days).',
    eraseTitle: 'Erase this person',
    eraseHint: 'Removes everything held about this person, everywhere, for a request to be forgotten. Their phone, email and LINE account are blocked so that later events do not bring them back. This cannot be undone; the audit log keeps who asked.',
    eraseStart: 'Erase this person…', eraseConfirmLabel: 'To confirm, type the profile id {id}', eraseConfirm: 'Erase permanently', eraseCancel: 'Cancel',
    erasing: 'Erasing…', eraseStatus: 'Status', eraseRequested: 'Requested {at} by {by}', eraseProfiles: 'Profiles', eraseIdentifiers: 'Identifiers blocked',
    eraseRounds: 'Rounds', eraseRemoved: 'Removed', eraseRemaining: 'Left', eraseStore: 'Where', eraseFinished: 'Finished {at}',
    er_running: 'Erasing', er_erased: 'Erased', er_incomplete: 'Incomplete: some data was still found; erase again to go round once more',
    erase_exports: 'Exported files', erase_import_rows: 'Member import rows', erase_journey_runs: 'Journey runs', erase_timeline_refs: 'Raw events and send records',
    erase_segment_memberships: 'Segment memberships', erase_frequency_caps: 'Message limits', erase_merge_ledgers: 'Merge records', erase_identifier_claims: 'Identifiers',
    erase_profile: 'Profile and timeline', erase_archive: 'Report archive rows',
  },
  'zh-TW': {
    title: '顧客',
    searchBy: '搜尋方式',
    phone: '電話', email: 'Email', member_id: '會員編號', line: 'LINE 使用者 ID', name: '姓名開頭', tag: '標籤', trait: '屬性（名稱=值）',
    search: '搜尋', placeholder: '例如 0912 345 678', traitPlaceholder: '例如 city=Taipei',
    results: '搜尋結果', noResults: '沒有符合的顧客。', traitFormat: '屬性請寫成「名稱=值」，例如 city=Taipei。',
    colName: '姓名', colLine: 'LINE', colTags: '標籤', colChannels: '管道', colLtv: '累積消費',
    back: '← 回到搜尋', mergedInto: '此顧客已合併到 {id}，以下顯示合併後的顧客。',
    identifiers: '識別碼', traits: '屬性', computed: '計算屬性', reach: '同意與可觸及狀態',
    tags: '標籤', segments: '所屬分眾', merges: '合併紀錄', timeline: '行為時間軸', noTags: '沒有標籤。', noSegments: '不在任何分眾中。',
    noMerges: '沒有合併到此顧客的紀錄。', channels: '管道', orders: '訂單數', revenue: '消費金額', firstSeen: '首次出現', lastSeen: '最近出現',
    type: '類型', value: '值', added: '加入時間', channel: '管道', reachable: '可觸及', consent: '同意狀態', yes: '是', no: '否', unknown: '未詢問',
    granted: '已同意', withdrawn: '已撤回', entered: '加入時間', merge: '合併', from: '被合併的顧客', status: '狀態', when: '時間', moved: '移動的事件數',
    undo: '復原合併', undoing: '復原中…', confirmUndo: '要將 {loser} 從此顧客拆分出來嗎？', undone: '正在復原合併，完成後本頁會自動更新。',
    event: '事件', time: '時間', details: '內容', more: '載入較早的事件', noEvents: '尚無事件。', lineStatus: 'LINE 狀態',
    maskedNote: '電話與 Email 已遮蔽。', reveal: '顯示（會記錄於稽核紀錄）',
    revealedNote: '正在顯示電話與 Email；此次檢視已記錄於稽核紀錄。', hide: '重新遮蔽',
    st_friend: '好友', st_blocked: '已封鎖', st_never_followed: '未曾加入好友', st_unknown: '未知', st_merged: '已合併', st_unmerged: '已復原', st_unmerging: '復原中', st_rejected: '已拒絕', st_planned: '已排程', st_merging: '合併中',
    consentHistory: '同意紀錄', noConsent: '尚無同意紀錄。', purpose: '目的', source: '來源', textVersion: '條款版本', confirmed: '再次確認',
    exportTitle: '個人資料匯出', exportHint: '此顧客的所有資料，供當事人查閱請求使用：一份 JSON 文件與 CSV 格式的行為時間軸。',
    exportStart: '匯出此顧客的資料', exportRunning: '匯出中… {stage}（{done}／{total}）', exportJson: '下載 JSON（{size}）', exportCsv: '時間軸 CSV（{size}）',
    exportLinks: '連結 15 分鐘內有效；檔案保留 7 天，期間可再次匯出取得新連結。',
    eraseTitle: '刪除此顧客',
    eraseHint: '應當事人要求，刪除此顧客在所有地方的資料。其電話、Email 與 LINE 帳號會被封鎖，之後的事件不會再建立此顧客。此操作無法復原；稽核紀錄會保留提出者。',
    eraseStart: '刪除此顧客…', eraseConfirmLabel: '請輸入顧客代碼 {id} 以確認', eraseConfirm: '永久刪除', eraseCancel: '取消',
    erasing: '刪除中…', eraseStatus: '狀態', eraseRequested: '{by} 於 {at} 提出', eraseProfiles: '顧客檔案數', eraseIdentifiers: '封鎖的識別碼',
    eraseRounds: '執行輪數', eraseRemoved: '已刪除', eraseRemaining: '剩餘', eraseStore: '位置', eraseFinished: '完成於 {at}',
    er_running: '刪除中', er_erased: '已刪除', er_incomplete: '未完成：仍找到部分資料，請再次刪除以重跑一輪',
    erase_exports: '匯出檔案', erase_import_rows: '會員匯入資料列', erase_journey_runs: '旅程執行紀錄', erase_timeline_refs: '原始事件與發送紀錄',
    erase_segment_memberships: '分眾成員資格', erase_frequency_caps: '訊息頻率上限', erase_merge_ledgers: '合併紀錄', erase_identifier_claims: '識別碼',
    erase_profile: '顧客檔案與時間軸', erase_archive: '報表封存資料列',
  },
};

const MODES = ['phone', 'email', 'member_id', 'line', 'name', 'tag', 'trait'];

// The search's query parameters for a mode and what was typed; null when it is not well formed.
export function searchQuery(mode, text) {
  const value = text.trim();
  if (!value) return null;
  if (mode === 'name') return { name_prefix: value };
  if (mode === 'tag') return { tag: value };
  if (mode === 'trait') {
    const at = value.indexOf('=');
    if (at <= 0) return null;
    return { [`trait.${value.slice(0, at).trim()}`]: value.slice(at + 1).trim() };
  }
  return { identifier: `${mode}:${value}` };
}

function statusWord(t, status) {
  return status ? t(`st_${status}`) : '—';
}

function Search({ t, route }) {
  const { navigate } = useApp();
  const [mode, setMode] = useState(route.query.mode || 'phone');
  const [text, setText] = useState(route.query.q || '');
  const [problem, setProblem] = useState(null);
  const query = route.query.q ? searchQuery(route.query.mode || 'phone', route.query.q) : null;
  const state = useApiData((api) => (query ? api.get('/admin/v1/profiles/search', { ...query, limit: 50 }) : null), [route.query.mode, route.query.q]);
  const submit = (event) => {
    event.preventDefault();
    if (!searchQuery(mode, text)) {
      setProblem(mode === 'trait' ? t('traitFormat') : null);
      return;
    }
    setProblem(null);
    navigate('people', [], { mode, q: text.trim() });
  };
  return (
    <div>
      <h1>{t('title')}</h1>
      <form class="toolbar" onSubmit={submit} data-testid="people-search-form">
        <label>
          {t('searchBy')}
          <select value={mode} onChange={(e) => setMode(e.currentTarget.value)} data-testid="people-search-mode">
            {MODES.map((m) => (
              <option key={m} value={m}>{t(m)}</option>
            ))}
          </select>
        </label>
        <label>
          &nbsp;
          <input value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder={mode === 'trait' ? t('traitPlaceholder') : t('placeholder')} data-testid="people-search-input" />
        </label>
        <button type="submit" class="primary" data-testid="people-search-submit">{t('search')}</button>
      </form>
      {problem && <div class="error" data-testid="people-search-problem">{problem}</div>}
      {query && (
        <Async state={state} testid="people-results">
          {(data) => (
            <Card title={t('results')}>
              <Table
                testid="people-results"
                empty={t('noResults')}
                rows={data?.profiles || []}
                rowKey={(p) => p.profile_id}
                columns={[
                  { key: 'name', label: t('colName'), render: (p) => <a href={routeHref('people', [p.profile_id])} data-testid="people-result-link">{p.name || p.profile_id}</a> },
                  { key: 'line_status', label: t('colLine'), render: (p) => statusWord(t, p.line_status) },
                  { key: 'tags', label: t('colTags'), render: (p) => p.tags.map((tag) => <span class="pill" key={tag}>{tag}</span>) },
                  { key: 'channel_mix', label: t('colChannels') },
                  { key: 'ltv', label: t('colLtv'), numeric: true },
                ]}
              />
            </Card>
          )}
        </Async>
      )}
    </div>
  );
}

function Facts({ entries, testid }) {
  if (!entries.length) return <Empty testid={testid && `${testid}-empty`} />;
  return (
    <dl class="facts" data-testid={testid}>
      {entries.map(([key, value]) => [
        <dt key={`k${key}`}>{key}</dt>,
        <dd key={`v${key}`} data-key={key}>{typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}</dd>,
      ])}
    </dl>
  );
}

// Computed traits flattened to dotted names (orders.30d.count).
export function flatten(value, prefix = '') {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix, value]];
  const entries = Object.entries(value);
  if (!entries.length) return prefix ? [[prefix, '{}']] : [];
  return entries.flatMap(([key, inner]) => flatten(inner, prefix ? `${prefix}.${key}` : key));
}

function Merges({ t, profileId, onUndone }) {
  const { api, lang } = useApp();
  const state = useApiData((a) => a.get(`/admin/v1/profiles/${encodeURIComponent(profileId)}/merges`), [profileId]);
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const undo = async (merge) => {
    if (!confirm(t('confirmUndo', { loser: merge.loser }))) return;
    setBusy(merge.merge_id);
    setError(null);
    try {
      const answer = await api.post(`/admin/v1/profiles/${encodeURIComponent(profileId)}/unmerge`, { mergeId: merge.merge_id });
      setNotice(t('undone'));
      // The undo runs as a workflow: follow the ledger until it says unmerged.
      for (let i = 0; i < 60 && answer.status !== 'unmerged'; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        const ledger = await api.get(answer.statusUrl || `/admin/v1/merges/${merge.merge_id}`);
        if (ledger.status === 'unmerged') break;
      }
      state.reload();
      onUndone();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };
  return (
    <Card title={t('merges')} testid="person-merges">
      {notice && <p class="hint" data-testid="person-unmerge-notice">{notice}</p>}
      <ErrorMessage error={error} testid="person-unmerge-error" />
      <Async state={state}>
        {(data) => (
          <Table
            testid="person-merges-table"
            empty={t('noMerges')}
            rows={data.merges}
            rowKey={(m) => m.merge_id}
            columns={[
              { key: 'loser', label: t('from') },
              { key: 'status', label: t('status'), render: (m) => statusWord(t, m.status) },
              { key: 'finalized_at', label: t('when'), render: (m) => formatDateTime(m.finalized_at || m.planned_at, lang) },
              { key: 'events_moved', label: t('moved'), numeric: true },
              {
                key: 'undo',
                label: '',
                render: (m) =>
                  m.status === 'merged' && m.survivor === profileId ? (
                    <button type="button" class="danger" disabled={busy !== null} onClick={() => undo(m)} data-testid="person-unmerge">
                      {busy === m.merge_id ? t('undoing') : t('undo')}
                    </button>
                  ) : null,
              },
            ]}
          />
        )}
      </Async>
    </Card>
  );
}

// Every consent change, newest first (the API lists them oldest first, as they were applied).
function ConsentHistory({ t, profileId }) {
  const { lang } = useApp();
  const state = useApiData((a) => a.get(`/admin/v1/profiles/${encodeURIComponent(profileId)}/consent`), [profileId]);
  return (
    <Card title={t('consentHistory')} testid="person-consent-history">
      <Async state={state}>
        {(data) => (
          <Table
            testid="person-consent-history-table"
            empty={t('noConsent')}
            rows={[...data.history].reverse()}
            rowKey={(h) => `${h.event_id}:${h.key}`}
            columns={[
              { key: 'at', label: t('when'), render: (h) => formatDateTime(h.at, lang) },
              { key: 'channel', label: t('channel') },
              { key: 'purpose', label: t('purpose'), render: (h) => h.purpose || '—' },
              {
                key: 'granted',
                label: t('consent'),
                render: (h) => (
                  <span class={`pill ${h.granted ? 'ok' : 'bad'}`} data-testid="person-consent-value" title={h.changed ? '' : t('confirmed')}>
                    {h.granted ? t('granted') : t('withdrawn')}{h.changed ? '' : ' ↻'}
                  </span>
                ),
              },
              { key: 'source', label: t('source') },
              { key: 'text_version', label: t('textVersion'), render: (h) => h.text_version || '—' },
            ]}
          />
        )}
      </Async>
    </Card>
  );
}

function fileSize(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

// The export (right of access) runs as a job: start it, follow its stages, then offer the two files.
function DataExport({ t, profileId }) {
  const { api } = useApp();
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  const start = async () => {
    setError(null);
    try {
      let current = await api.post(`/admin/v1/profiles/${encodeURIComponent(profileId)}/export`, undefined, { noWait: true });
      setJob(current);
      for (let i = 0; i < 600 && current.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 500));
        current = await api.get(current.status_url);
        setJob(current);
      }
      if (current.status === 'failed') setError({ code: current.error?.error, status: current.error?.status, message: current.error?.message });
    } catch (failure) {
      setError(failure);
    }
  };
  const running = job?.status === 'running';
  return (
    <Card title={t('exportTitle')} testid="person-export">
      <p class="hint">{t('exportHint')}</p>
      <button type="button" disabled={running} onClick={start} data-testid="person-export-start">{t('exportStart')}</button>
      {running && (
        <p class="hint" data-testid="person-export-status">
          {t('exportRunning', { stage: job.progress.stage, done: job.progress.done, total: job.progress.stages.length })}
        </p>
      )}
      {job?.status === 'done' && (
        <p data-testid="person-export-files">
          <a href={job.files.json.url} data-testid="person-export-json">{t('exportJson', { size: fileSize(job.files.json.bytes) })}</a>
          {' · '}
          <a href={job.files.csv.url} data-testid="person-export-csv">{t('exportCsv', { size: fileSize(job.files.csv.bytes) })}</a>
          <br />
          <span class="hint">{t('exportLinks')}</span>
        </p>
      )}
      <ErrorMessage error={error} testid="person-export-error" />
    </Card>
  );
}

// The right to erasure (admin): typing the profile id confirms; the erase runs as a workflow, so
// its record (counts only) is read again until it is no longer running (docs/privacy.md "Erase").
function Erase({ t, profileId }) {
  const { api, lang } = useApp();
  const [asking, setAsking] = useState(false);
  const [typed, setTyped] = useState('');
  const [record, setRecord] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const live = useRef(true);
  useEffect(() => () => {
    live.current = false;
  }, []);
  const path = `/admin/v1/profiles/${encodeURIComponent(profileId)}/erase`;
  const erase = async (event) => {
    event.preventDefault();
    if (typed.trim() !== profileId) return;
    setBusy(true);
    setError(null);
    try {
      let current = await api.post(path, undefined, { noWait: true });
      setRecord(current);
      setAsking(false);
      for (let i = 0; i < 600 && live.current && current.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        current = await api.get(path);
        if (live.current) setRecord(current);
      }
    } catch (failure) {
      if (live.current) setError(failure);
    } finally {
      if (live.current) setBusy(false);
    }
  };
  const stores = record ? [...new Set([...Object.keys(record.removed || {}), ...Object.keys(record.remaining || {})])] : [];
  return (
    <Card title={t('eraseTitle')} testid="person-erase">
      <p class="hint">{t('eraseHint')}</p>
      {!record && !asking && (
        <button type="button" class="danger" onClick={() => setAsking(true)} data-testid="person-erase-start">{t('eraseStart')}</button>
      )}
      {!record && asking && (
        <form class="row" onSubmit={erase} style={{ alignItems: 'flex-end' }} data-testid="person-erase-form">
          <label>
            {t('eraseConfirmLabel', { id: profileId })}
            <input value={typed} autocomplete="off" onInput={(e) => setTyped(e.currentTarget.value)} data-testid="person-erase-confirm-id" />
          </label>
          <button type="submit" class="danger" disabled={busy || typed.trim() !== profileId} data-testid="person-erase-confirm">
            {busy ? t('erasing') : t('eraseConfirm')}
          </button>
          <button type="button" onClick={() => { setAsking(false); setTyped(''); }} data-testid="person-erase-cancel">{t('eraseCancel')}</button>
        </form>
      )}
      <ErrorMessage error={error} testid="person-erase-error" />
      {record && (
        <div data-testid="person-erase-record" data-status={record.status}>
          <p>
            {t('eraseStatus')}:{' '}
            <span class={`pill ${record.status === 'erased' ? 'ok' : record.status === 'incomplete' ? 'bad' : ''}`} data-testid="person-erase-status">
              {t(`er_${record.status}`)}
            </span>{' '}
            <span class="hint">{t('eraseRequested', { at: formatDateTime(record.requested_at, lang), by: record.requested_by })}</span>
            {record.finished_at && <span class="hint"> · {t('eraseFinished', { at: formatDateTime(record.finished_at, lang) })}</span>}
          </p>
          <p class="hint">
            {t('eraseProfiles')}: {formatNumber(record.profiles, lang)} · {t('eraseIdentifiers')}: {formatNumber(record.identifiers, lang)} · {t('eraseRounds')}: {formatNumber(record.rounds, lang)}
          </p>
          <Table
            testid="person-erase-counts"
            rows={stores}
            rowKey={(s) => s}
            columns={[
              { key: 'store', label: t('eraseStore'), value: (s) => t(`erase_${s}`) },
              { key: 'removed', label: t('eraseRemoved'), numeric: true, value: (s) => record.removed?.[s] ?? 0 },
              { key: 'remaining', label: t('eraseRemaining'), numeric: true, value: (s) => (record.remaining ? record.remaining[s] ?? 0 : null) },
            ]}
          />
        </div>
      )}
    </Card>
  );
}

function eventName(e) {
  return e.event || e.name || e.type || '—';
}

// The API masks phones and emails for viewers, and for users until they ask to see them
// (`reveal=true`, recorded in the audit log): docs/access.md, "Audit log and masking".
export function isMasked(view) {
  return (view?.identifiers || []).some((i) => (i.type === 'phone' || i.type === 'email') && String(i.value).includes('***'));
}

function Timeline({ t, view, reveal }) {
  const { api, lang } = useApp();
  const [pages, setPages] = useState([]);
  const [next, setNext] = useState(undefined);
  const [error, setError] = useState(null);
  const events = [...view.events, ...pages];
  const more = async () => {
    try {
      const page = await api.get(view.timeline_url, { limit: 50, before: next || undefined, reveal: reveal ? 'true' : undefined });
      // The first page repeats the 360 view's latest events: keep only what is new.
      const seen = new Set(events.map((e) => e.eventId || e.event_id || e.messageId));
      setPages((old) => [...old, ...page.events.filter((e) => !seen.has(e.eventId || e.event_id || e.messageId))]);
      setNext(page.next);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <Card title={t('timeline')} testid="person-timeline">
      <Table
        testid="person-timeline-table"
        empty={t('noEvents')}
        rows={events}
        columns={[
          { key: 'time', label: t('time'), render: (e) => formatDateTime(e.timestamp || e.ts || e.received_at, lang) },
          { key: 'event', label: t('event'), render: (e) => eventName(e) },
          { key: 'channel', label: t('channel'), render: (e) => e.context?.channel || e.channel || '—' },
          { key: 'details', label: t('details'), render: (e) => <code>{JSON.stringify(e.properties || e.traits || {}).slice(0, 160)}</code> },
        ]}
      />
      <ErrorMessage error={error} />
      {next !== null && events.length > 0 && (
        <button type="button" onClick={more} data-testid="person-timeline-more">{t('more')}</button>
      )}
    </Card>
  );
}

function Person({ t, id }) {
  const { lang, can = () => true } = useApp();
  const [reveal, setReveal] = useState(false);
  const state = useApiData(
    (api) => api.get(`/admin/v1/profiles/${encodeURIComponent(id)}`, reveal ? { reveal: 'true' } : undefined),
    [id, reveal],
  );
  return (
    <div>
      <p><a href={routeHref('people')} data-testid="person-back">{t('back')}</a></p>
      {(reveal || isMasked(state.data)) && (
        <p class="hint" data-testid="person-masking" data-revealed={String(reveal)}>
          {t(reveal ? 'revealedNote' : 'maskedNote')}{' '}
          <button type="button" data-testid="person-reveal" onClick={() => setReveal(!reveal)}>{t(reveal ? 'hide' : 'reveal')}</button>
        </p>
      )}
      <Async state={state} testid="person">
        {(view) => {
          const name = view.traits?.name;
          const reach = Object.entries(view.reachability || {});
          return (
            <div data-testid="person-view" data-profile-id={view.profile_id}>
              <h1 data-testid="person-name">{name || view.profile_id}</h1>
              {view.requested_id && <p class="hint" data-testid="person-merged-into">{t('mergedInto', { id: view.profile_id })}</p>}
              <div class="kpis">
                <div class="kpi"><div class="kpi-label">{t('lineStatus')}</div><div class="kpi-value" data-testid="person-line-status">{statusWord(t, view.line?.status)}</div></div>
                <div class="kpi"><div class="kpi-label">{t('channels')}</div><div class="kpi-value" data-testid="person-channels" data-count={Object.keys(view.stats?.channels || {}).length}>
                  {Object.entries(view.stats?.channels || {}).map(([c, n]) => <span class="pill" key={c} data-testid="person-channel" data-channel={c} title={String(n)}>{c}</span>)}
                </div></div>
                <div class="kpi"><div class="kpi-label">{t('orders')}</div><div class="kpi-value">{formatNumber(view.orders?.count, lang)}</div></div>
                <div class="kpi"><div class="kpi-label">{t('revenue')}</div><div class="kpi-value">{formatMoney(view.computed_traits?.ltv ?? null, lang)}</div></div>
              </div>
              <div class="grid">
                <Card title={t('identifiers')} testid="person-identifiers">
                  <Table testid="person-identifiers-table" rows={view.identifiers} columns={[
                    { key: 'type', label: t('type') },
                    { key: 'value', label: t('value') },
                    { key: 'added_at', label: t('added'), render: (i) => formatDateTime(i.added_at, lang) },
                  ]} />
                </Card>
                <Card title={t('reach')} testid="person-reachability">
                  <Table testid="person-reachability-table" rows={reach} rowKey={([c]) => c} columns={[
                    { key: 'channel', label: t('channel'), value: ([c]) => c },
                    { key: 'reachable', label: t('reachable'), render: ([, r]) => <span class={`pill ${r.reachable ? 'ok' : 'bad'}`} data-testid="person-reachable">{r.reachable ? t('yes') : t('no')}</span> },
                    { key: 'consent', label: t('consent'), render: ([, r]) => (r.consent === true ? t('granted') : r.consent === false ? t('withdrawn') : t('unknown')) },
                  ]} />
                </Card>
                <Card title={t('traits')} testid="person-traits">
                  <Facts testid="person-traits-list" entries={Object.entries(view.traits || {})} />
                </Card>
                <Card title={t('computed')} testid="person-computed">
                  <Facts testid="person-computed-list" entries={flatten(view.computed_traits || {})} />
                </Card>
                <Card title={t('tags')} testid="person-tags">
                  {view.tags?.length ? view.tags.map((tag) => <span class="pill" key={tag} data-testid="person-tag">{tag}</span>) : <Empty>{t('noTags')}</Empty>}
                </Card>
                <Card title={t('segments')} testid="person-segments">
                  {view.segments?.length ? (
                    <Table testid="person-segments-table" rows={view.segments} rowKey={(s) => s.segment_id} columns={[
                      { key: 'segment_id', label: t('segments'), render: (s) => <a href={routeHref('segments', [s.segment_id])}>{s.segment_id}</a> },
                      { key: 'entered_at', label: t('entered'), render: (s) => formatDateTime(s.entered_at, lang) },
                    ]} />
                  ) : <Empty>{t('noSegments')}</Empty>}
                </Card>
              </div>
              <ConsentHistory t={t} profileId={view.profile_id} key={`consent-${view.profile_id}`} />
              <DataExport t={t} profileId={view.profile_id} key={`export-${view.profile_id}`} />
              <Merges t={t} profileId={view.profile_id} onUndone={state.reload} />
              <Timeline t={t} view={view} reveal={reveal} key={`${view.profile_id}:${reveal}`} />
              {can('admin') && <Erase t={t} profileId={view.profile_id} key={`erase-${view.profile_id}`} />}
            </div>
          );
        }}
      </Async>
    </div>
  );
}

export default function People({ t, route }) {
  return route.params[0] ? <Person t={t} id={route.params[0]} /> : <Search t={t} route={route} />;
}
