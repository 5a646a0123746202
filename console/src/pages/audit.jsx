import { useState } from 'preact/hooks';
import { Card, ErrorMessage, Loading, Table, useApiData, useApp } from '../components/ui.jsx';
import { formatDateTime } from '../i18n.js';

// The audit log (admin): who changed what, downloaded personal data or revealed phones and
// emails, newest first (GET /admin/v1/audit; docs/access.md "Audit log and masking"). The filters
// live in the route's query, so a filtered view can be linked to; "more" follows the cursor.
export const strings = {
  en: {
    title: 'Audit log',
    hint: 'Every change made through the console or the API, every download of personal data and every time phones and emails were shown. Kept {days} days.',
    actor: 'Who (email or subject)',
    target: 'Target id (a person, a segment…)',
    from: 'From (Taiwan date)',
    to: 'To (Taiwan date, included)',
    apply: 'Filter',
    clear: 'Clear',
    colTime: 'Time',
    colActor: 'Who',
    colAction: 'Action',
    colRequest: 'Request',
    colTargets: 'Targets',
    colStatus: 'Result',
    colIp: 'Source IP',
    more: 'More',
    none: 'Nothing recorded for these filters.',
    write: 'Change',
    download: 'Download',
    'pii.reveal': 'Showed phones / emails',
    roles: { viewer: 'Viewer', marketer: 'Marketer', admin: 'Administrator' },
    ok: 'Done',
    refused: 'Refused',
    failed: 'Failed',
  },
  'zh-TW': {
    title: '稽核紀錄',
    hint: '透過主控台或 API 進行的每項變更、每次個人資料下載，以及每次顯示電話與 Email 的紀錄。保存 {days} 天。',
    actor: '操作者（Email 或帳號代碼）',
    target: '對象代碼（顧客、分眾…）',
    from: '開始日期（台灣時間）',
    to: '結束日期（台灣時間，含當天）',
    apply: '篩選',
    clear: '清除',
    colTime: '時間',
    colActor: '操作者',
    colAction: '操作',
    colRequest: '請求',
    colTargets: '對象',
    colStatus: '結果',
    colIp: '來源 IP',
    more: '載入更多',
    none: '這些條件下沒有紀錄。',
    write: '變更',
    download: '下載',
    'pii.reveal': '顯示電話／Email',
    roles: { viewer: '檢視者', marketer: '行銷人員', admin: '管理員' },
    ok: '完成',
    refused: '被拒絕',
    failed: '失敗',
  },
};

const PAGE_SIZE = 50;
const FILTERS = ['actor', 'target', 'from', 'to'];

function nextDay(date) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

// The API's query for the page's filters: dates are whole days in Taiwan time (the console shows
// times there), `to` included (the API's `to` is exclusive).
export function auditQuery(filters) {
  const query = { limit: PAGE_SIZE };
  if (filters.actor?.trim()) query.actor = filters.actor.trim();
  if (filters.target?.trim()) query.target = filters.target.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(filters.from || '')) query.from = `${filters.from}T00:00:00+08:00`;
  if (/^\d{4}-\d{2}-\d{2}$/.test(filters.to || '')) query.to = `${nextDay(filters.to)}T00:00:00+08:00`;
  return query;
}

export function outcome(status) {
  if (status === 401 || status === 403) return 'refused';
  return status >= 400 ? 'failed' : 'ok';
}

function targetsText(targets) {
  const entries = Object.entries(targets || {});
  return entries.length ? entries.map(([k, v]) => `${k}: ${v}`).join(', ') : '—';
}

export default function AuditPage({ t, route }) {
  const { api, navigate, lang } = useApp();
  const applied = Object.fromEntries(FILTERS.map((k) => [k, route.query[k] || '']));
  const [draft, setDraft] = useState(applied);
  const key = JSON.stringify(applied);
  // Pages after the first, for the filters they were read with (a page answered after the filters
  // changed is dropped).
  const [extra, setExtra] = useState({ key, records: [], next: undefined, busy: false, error: null });
  const first = useApiData(
    (client) => {
      setExtra({ key, records: [], next: undefined, busy: false, error: null });
      return client.get('/admin/v1/audit', auditQuery(applied));
    },
    FILTERS.map((k) => applied[k]),
  );
  const submit = (event) => {
    event.preventDefault();
    if (JSON.stringify(draft) === key) first.reload(); // the same filters: read the newest again
    else navigate('audit', [], draft);
  };
  const next = extra.next === undefined ? first.data?.next : extra.next;
  const records = [...(first.data?.records || []), ...extra.records];
  const more = async () => {
    setExtra((e) => ({ ...e, busy: true, error: null }));
    try {
      const page = await api.get('/admin/v1/audit', { ...auditQuery(applied), cursor: next });
      setExtra((e) => (e.key === key ? { key, records: [...e.records, ...page.records], next: page.next, busy: false, error: null } : e));
    } catch (error) {
      setExtra((e) => (e.key === key ? { ...e, busy: false, error } : e));
    }
  };
  const field = (name, type = 'text') => (
    <label>
      {t(name)}
      <input type={type} value={draft[name]} onInput={(e) => setDraft({ ...draft, [name]: e.currentTarget.value })} data-testid={`audit-${name}`} />
    </label>
  );
  return (
    <div>
      <h1>{t('title')}</h1>
      <p class="hint">{t('hint', { days: first.data?.retention_days ?? '…' })}</p>
      <form class="toolbar" onSubmit={submit} data-testid="audit-filters">
        {field('actor')}
        {field('target')}
        {field('from', 'date')}
        {field('to', 'date')}
        <button type="submit" class="primary" data-testid="audit-apply">{t('apply')}</button>
        <button type="button" onClick={() => { setDraft(Object.fromEntries(FILTERS.map((k) => [k, '']))); navigate('audit'); }} data-testid="audit-clear">
          {t('clear')}
        </button>
      </form>
      <Card testid="audit-results">
        <div aria-busy={first.loading ? 'true' : 'false'} data-testid="audit-results-state" />
        {first.error ? (
          <ErrorMessage error={first.error} onRetry={first.reload} testid="audit-error" />
        ) : first.loading && !first.data ? (
          <Loading testid="audit-loading" />
        ) : (
          <>
            <Table
              testid="audit-table"
              empty={t('none')}
              rows={records}
              rowKey={(r) => `${r.at}#${r.request_id}`}
              columns={[
                { key: 'at', label: t('colTime'), render: (r) => <span title={r.at}>{formatDateTime(r.at, lang)}</span> },
                {
                  key: 'actor',
                  label: t('colActor'),
                  render: (r) => (
                    <span title={r.actor?.subject}>
                      {r.actor?.name || r.actor?.subject || '—'} <span class="pill">{t('roles')[r.actor?.role] || r.actor?.role}</span>
                    </span>
                  ),
                },
                { key: 'action', label: t('colAction'), value: (r) => t(r.action) },
                { key: 'request', label: t('colRequest'), render: (r) => <code>{`${r.method} ${r.route}`}</code> },
                { key: 'targets', label: t('colTargets'), value: (r) => targetsText(r.targets) },
                {
                  key: 'status',
                  label: t('colStatus'),
                  render: (r) => (
                    <span class={`pill ${outcome(r.status) === 'ok' ? 'ok' : 'bad'}`} data-status={r.status}>
                      {t(outcome(r.status))} ({r.status})
                    </span>
                  ),
                },
                { key: 'source_ip', label: t('colIp'), render: (r) => <span title={r.user_agent || ''}>{r.source_ip || '—'}</span> },
              ]}
            />
            <ErrorMessage error={extra.error} testid="audit-more-error" />
            {next && (
              <button type="button" disabled={extra.busy} onClick={more} data-testid="audit-more">
                {t('more')}
              </button>
            )}
          </>
        )}
      </Card>
    </div>
  );
}
