import { useEffect, useRef, useState } from 'preact/hooks';
import { Chart } from '../components/Chart.jsx';
import { RuleBuilder } from '../components/RuleBuilder.jsx';
import { Async, Card, ErrorMessage, Table, useApiData, useApp, useDebounced } from '../components/ui.jsx';
import { formatDateTime, formatNumber, formatPercent } from '../i18n.js';
import { routeHref } from '../registry.js';
import { emptyRule, problems } from '../rules.js';

export const strings = {
  en: {
    title: 'Segments', create: 'New segment', name: 'Name', id: 'ID', status: 'Status', updated: 'Updated', refresh: 'Refresh every',
    noSegments: 'No segments yet.', back: '← All segments', newTitle: 'New segment', idHint: 'lowercase letters, digits and dashes; cannot change later',
    rule: 'Who is in it', json: 'Rule as JSON', jsonInvalid: 'The JSON is not valid yet.', preview: 'Live count', previewHint: 'Counted as you edit, from the archive.',
    matches: '{count} of {population} people', share: '{share} of everyone', sample: 'Sample', incomplete: 'Finish the conditions to see the count.',
    counting: 'Counting…', save: 'Save', saving: 'Saving…', saved: 'Saved.', members: 'Members now', history: 'Size over time', noHistory: 'Sized after the first scheduled refresh.',
    exports: 'Export', lineAudience: 'Send to LINE as an audience', hashedCsv: 'Download hashed CSV (email/phone SHA-256)', exporting: 'Exporting…',
    audienceDone: 'LINE audience {id} created with {n} people.', csvDone: 'CSV ready: {n} people ({emails} emails, {phones} phones).', download: 'Download',
    colName: 'Name', colLine: 'LINE', colTags: 'Tags', asOf: 'Archive as of {at}', active: 'Active', archived: 'Archived', minutes: '{n} min',
    changes: 'Latest entries and exits', person: 'Person', action: 'Change', at: 'When', entered: 'entered', exited: 'exited',
  },
  'zh-TW': {
    title: '分眾', create: '新增分眾', name: '名稱', id: '代碼', status: '狀態', updated: '更新時間', refresh: '更新頻率',
    noSegments: '尚未建立分眾。', back: '← 所有分眾', newTitle: '新增分眾', idHint: '小寫英文、數字與連字號；建立後不可修改',
    rule: '分眾條件', json: '條件 JSON', jsonInvalid: 'JSON 格式尚不正確。', preview: '即時人數', previewHint: '編輯時即時從資料庫計算。',
    matches: '{population} 人中有 {count} 人', share: '佔全部的 {share}', sample: '樣本', incomplete: '請完成條件以查看人數。',
    counting: '計算中…', save: '儲存', saving: '儲存中…', saved: '已儲存。', members: '目前人數', history: '人數變化', noHistory: '第一次排程更新後會顯示人數。',
    exports: '匯出', lineAudience: '匯出為 LINE 受眾', hashedCsv: '下載雜湊 CSV（Email/電話 SHA-256）', exporting: '匯出中…',
    audienceDone: '已建立 LINE 受眾 {id}，共 {n} 人。', csvDone: 'CSV 已完成：{n} 人（{emails} 個 Email、{phones} 個電話）。', download: '下載',
    colName: '姓名', colLine: 'LINE', colTags: '標籤', asOf: '資料時間 {at}', active: '使用中', archived: '已封存', minutes: '{n} 分鐘',
    changes: '最近加入與離開', person: '顧客', action: '變化', at: '時間', entered: '加入', exited: '離開',
  },
};

function List({ t }) {
  const { lang, can = () => true } = useApp();
  const state = useApiData((api) => api.get('/admin/v1/segments'), []);
  return (
    <div>
      <div class="card-head">
        <h1>{t('title')}</h1>
        {can('marketer') && (
          <a href={routeHref('segments', ['new'])} data-testid="segments-new"><button type="button" class="primary">{t('create')}</button></a>
        )}
      </div>
      <Async state={state} testid="segments-list">
        {(data) => (
          <Card>
            <Table testid="segments-table" empty={t('noSegments')} rows={data.segments} rowKey={(s) => s.segment_id} columns={[
              { key: 'name', label: t('name'), render: (s) => <a href={routeHref('segments', [s.segment_id])} data-testid="segments-link">{s.name || s.segment_id}</a> },
              { key: 'segment_id', label: t('id') },
              { key: 'status', label: t('status'), render: (s) => t(s.status) },
              { key: 'refresh_minutes', label: t('refresh'), render: (s) => t('minutes', { n: s.refresh_minutes }) },
              { key: 'updated_at', label: t('updated'), render: (s) => formatDateTime(s.updated_at, lang) },
            ]} />
          </Card>
        )}
      </Async>
    </div>
  );
}

// Counts who matches while the rule is edited: debounced, and only the newest answer is shown.
function LivePreview({ t, rule }) {
  const { api, lang } = useApp();
  const settled = useDebounced(JSON.stringify(rule), 400);
  const [state, setState] = useState({ result: null, error: null, busy: false });
  const serial = useRef(0);
  const open = problems(JSON.parse(settled));
  useEffect(() => {
    if (open.length) return;
    const mine = ++serial.current;
    setState((s) => ({ ...s, busy: true, error: null }));
    api.post('/admin/v1/segments/preview', { rule: JSON.parse(settled), sample: 10 }).then(
      (result) => mine === serial.current && setState({ result, error: null, busy: false }),
      (error) => mine === serial.current && setState({ result: null, error, busy: false }),
    );
  }, [settled]);
  const result = state.result;
  return (
    <Card title={t('preview')} testid="segment-preview">
      <p class="hint">{t('previewHint')}</p>
      {open.length > 0 ? (
        <p class="hint" data-testid="segment-preview-incomplete">{t('incomplete')}</p>
      ) : (
        <>
          {state.busy && <p class="hint" data-testid="segment-preview-busy">{t('counting')}</p>}
          <ErrorMessage error={state.error} testid="segment-preview-error" />
          {result && (
            <div data-testid="segment-preview-result" data-count={result.count}>
              <div class="kpi-value" data-testid="segment-preview-count">{formatNumber(result.count, lang)}</div>
              <p class="hint">
                {t('matches', { count: formatNumber(result.count, lang), population: formatNumber(result.population, lang) })} ·{' '}
                {t('share', { share: formatPercent(result.share, lang) })}
              </p>
              <h3>{t('sample')}</h3>
              <Table testid="segment-preview-sample" rows={result.sample} rowKey={(p) => p.profile_id} columns={[
                { key: 'name', label: t('colName'), render: (p) => <a href={routeHref('people', [p.profile_id])}>{p.name || p.profile_id}</a> },
                { key: 'line_status', label: t('colLine') },
                { key: 'tags', label: t('colTags'), render: (p) => p.tags.join(', ') },
              ]} />
              <p class="hint">{t('asOf', { at: formatDateTime(result.archive_as_of || result.as_of, lang) })}</p>
            </div>
          )}
        </>
      )}
    </Card>
  );
}

function RuleEditor({ t, rule, setRule }) {
  const [text, setText] = useState(JSON.stringify(rule, null, 2));
  const [bad, setBad] = useState(false);
  useEffect(() => {
    setText(JSON.stringify(rule, null, 2));
    setBad(false);
  }, [JSON.stringify(rule)]);
  return (
    <Card title={t('rule')} testid="segment-rule">
      <RuleBuilder value={rule} onChange={setRule} testid="rule" />
      <details>
        <summary>{t('json')}</summary>
        <textarea rows="10" style={{ width: '100%', fontFamily: 'monospace' }} value={text} data-testid="segment-rule-json" onInput={(e) => {
          setText(e.currentTarget.value);
          try {
            const parsed = JSON.parse(e.currentTarget.value);
            setBad(false);
            setRule(parsed);
          } catch {
            setBad(true);
          }
        }} />
        {bad && <p class="hint">{t('jsonInvalid')}</p>}
      </details>
    </Card>
  );
}

function Editor({ t, segment, onSaved }) {
  const { api, navigate } = useApp();
  const creating = !segment;
  const [id, setId] = useState('');
  const [name, setName] = useState(segment?.name || '');
  const [rule, setRule] = useState(segment?.rule || emptyRule());
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  const save = async (event) => {
    event.preventDefault();
    setSaving(true);
    setError(null);
    setSaved(false);
    try {
      if (creating) {
        const made = await api.post('/admin/v1/segments', { id: id.trim() || undefined, name: name.trim(), rule });
        navigate('segments', [made.segment_id]);
      } else {
        await api.put(`/admin/v1/segments/${encodeURIComponent(segment.segment_id)}`, { name: name.trim(), rule, version: segment.version });
        setSaved(true);
        onSaved();
      }
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  };
  return (
    <form onSubmit={save} data-testid="segment-form">
      <div class="toolbar">
        {creating && (
          <label>
            {t('id')}
            <input value={id} onInput={(e) => setId(e.currentTarget.value)} pattern="[a-z0-9][a-z0-9_\-]{0,63}" title={t('idHint')} data-testid="segment-id" />
          </label>
        )}
        <label>
          {t('name')}
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required data-testid="segment-name" />
        </label>
        <button type="submit" class="primary" disabled={saving || problems(rule).length > 0} data-testid="segment-save">
          {saving ? t('saving') : t('save')}
        </button>
        {saved && <span class="hint" data-testid="segment-saved">{t('saved')}</span>}
      </div>
      <ErrorMessage error={error} testid="segment-save-error" />
      <div class="split">
        <RuleEditor t={t} rule={rule} setRule={setRule} />
        <LivePreview t={t} rule={rule} />
      </div>
    </form>
  );
}

function History({ t, segmentId }) {
  const { lang } = useApp();
  const state = useApiData((api) => api.get(`/admin/v1/segments/${encodeURIComponent(segmentId)}/history`, { limit: 100 }), [segmentId]);
  return (
    <Card title={t('history')} testid="segment-history">
      <Async state={state} testid="segment-history">
        {(data) => {
          const sizes = [...data.sizes].reverse(); // oldest first, left to right
          return (
            <>
              {sizes.length ? (
                <Chart testid="segment-history-chart" labels={sizes.map((s) => formatDateTime(s.at, lang))} series={[{ label: t('members'), data: sizes.map((s) => s.members) }]} />
              ) : (
                <p class="hint" data-testid="segment-history-empty">{t('noHistory')}</p>
              )}
              <h3>{t('changes')}</h3>
              <Table testid="segment-changes" rows={data.changes.slice(0, 20)} columns={[
                { key: 'profile_id', label: t('person'), render: (c) => <a href={routeHref('people', [c.profile_id])}>{c.profile_id}</a> },
                { key: 'action', label: t('action'), render: (c) => t(c.action) },
                { key: 'at', label: t('at'), render: (c) => formatDateTime(c.at, lang) },
              ]} />
            </>
          );
        }}
      </Async>
    </Card>
  );
}

function Exports({ t, segmentId }) {
  const { api, lang } = useApp();
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const run = async (kind) => {
    setBusy(kind);
    setError(null);
    setDone(null);
    try {
      const path = `/admin/v1/segments/${encodeURIComponent(segmentId)}/exports/${kind}`;
      setDone({ kind, answer: await api.post(path, kind === 'line-audience' ? {} : undefined) });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };
  const answer = done?.answer;
  return (
    <Card title={t('exports')} testid="segment-exports">
      <div class="row">
        <button type="button" disabled={busy !== null} onClick={() => run('line-audience')} data-testid="segment-export-line">
          {busy === 'line-audience' ? t('exporting') : t('lineAudience')}
        </button>
        <button type="button" disabled={busy !== null} onClick={() => run('hashed-csv')} data-testid="segment-export-csv">
          {busy === 'hashed-csv' ? t('exporting') : t('hashedCsv')}
        </button>
      </div>
      <ErrorMessage error={error} testid="segment-export-error" />
      {done?.kind === 'line-audience' && (
        <p data-testid="segment-export-line-done">{t('audienceDone', { id: answer.audienceGroupId, n: formatNumber(answer.members, lang) })}</p>
      )}
      {done?.kind === 'hashed-csv' && (
        <p data-testid="segment-export-csv-done">
          {t('csvDone', { n: formatNumber(answer.members, lang), emails: formatNumber(answer.emails, lang), phones: formatNumber(answer.phones, lang) })}{' '}
          <a href={answer.url} download data-testid="segment-export-csv-link">{t('download')}</a>
        </p>
      )}
    </Card>
  );
}

function Detail({ t, id }) {
  const { lang } = useApp();
  const state = useApiData((api) => api.get(`/admin/v1/segments/${encodeURIComponent(id)}`), [id]);
  return (
    <div>
      <p><a href={routeHref('segments')} data-testid="segment-back">{t('back')}</a></p>
      <Async state={state} testid="segment">
        {(segment) => (
          <div data-testid="segment-view" data-segment-id={segment.segment_id}>
            <h1>{segment.name || segment.segment_id}</h1>
            <div class="kpis">
              <div class="kpi"><div class="kpi-label">{t('members')}</div><div class="kpi-value" data-testid="segment-member-count">{formatNumber(segment.member_count, lang)}</div></div>
              <div class="kpi"><div class="kpi-label">{t('status')}</div><div class="kpi-value">{t(segment.status)}</div></div>
              <div class="kpi"><div class="kpi-label">{t('refresh')}</div><div class="kpi-value">{t('minutes', { n: segment.refresh_minutes })}</div></div>
            </div>
            <Editor t={t} segment={segment} key={`${segment.segment_id}:${segment.version}`} onSaved={state.reload} />
            <div class="grid">
              <History t={t} segmentId={segment.segment_id} />
              <Exports t={t} segmentId={segment.segment_id} />
            </div>
          </div>
        )}
      </Async>
    </div>
  );
}

export default function Segments({ t, route }) {
  const target = route.params[0];
  if (target === 'new') {
    return (
      <div>
        <p><a href={routeHref('segments')} data-testid="segment-back">{t('back')}</a></p>
        <h1>{t('newTitle')}</h1>
        <Editor t={t} segment={null} />
      </div>
    );
  }
  return target ? <Detail t={t} id={target} /> : <List t={t} />;
}
