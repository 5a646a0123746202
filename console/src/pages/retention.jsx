import { useState } from 'preact/hooks';
import { Async, Card, ErrorMessage, Table, useApiData, useApp } from '../components/ui.jsx';
import { kindName } from '../errors.js';
import { formatDateTime, formatNumber } from '../i18n.js';

// Data retention (admin): how long each kind of personal data is kept, how that is enforced, and
// what the daily retention job removed (GET/PUT /admin/v1/privacy/retention; docs/privacy.md
// "Retention"). Saving sends the version read: a stale save is a 409, shown in words.
export const strings = {
  en: {
    title: 'Data retention',
    hint: 'Personal data older than these periods is removed by a daily job. A change applies from the next run.',
    kinds: 'Kept for',
    colKind: 'Data',
    colDays: 'Days kept',
    colBounds: 'Allowed',
    colDefault: 'Default',
    colMechanism: 'Removed by',
    colRemoved: 'Removed (last run)',
    colOldest: 'Oldest kept',
    bounds: '{min}–{max} days',
    days: '{n} days',
    follows: 'Follows {kind}',
    scheduled_job: 'Daily retention job',
    dynamodb_ttl: 'Database expiry (deploy setting)',
    followsMechanism: 'Follows another kind',
    notConfigurable: 'Set elsewhere',
    save: 'Save',
    saving: 'Saving…',
    saved: 'Saved (version {v}).',
    nothing: 'Nothing was changed.',
    notNumber: 'Enter a whole number of days for {kind}.',
    version: 'Version {v}, changed {at}',
    runs: 'Last runs',
    runsHint: 'What the daily job removed, per kind, and the oldest item it kept.',
    noRuns: 'The job has not run yet.',
    colStarted: 'Started',
    colStatus: 'Status',
    colDetail: 'Removed / oldest kept',
    finished: 'Finished',
    running: 'Running',
    none: 'none kept',
  },
  'zh-TW': {
    title: '資料保存期限',
    hint: '超過保存期限的個人資料會由每日排程刪除。變更自下一次執行起生效。',
    kinds: '保存期限',
    colKind: '資料',
    colDays: '保存天數',
    colBounds: '可設定範圍',
    colDefault: '預設',
    colMechanism: '刪除方式',
    colRemoved: '已刪除（最近一次）',
    colOldest: '最舊保留資料',
    bounds: '{min}–{max} 天',
    days: '{n} 天',
    follows: '依{kind}',
    scheduled_job: '每日保存期限排程',
    dynamodb_ttl: '資料庫到期刪除（部署設定）',
    followsMechanism: '依其他資料',
    notConfigurable: '於他處設定',
    save: '儲存',
    saving: '儲存中…',
    saved: '已儲存（版本 {v}）。',
    nothing: '沒有任何變更。',
    notNumber: '請為{kind}輸入整數天數。',
    version: '版本 {v}，更新於 {at}',
    runs: '最近執行紀錄',
    runsHint: '每日排程刪除的各類資料筆數，以及保留的最舊資料時間。',
    noRuns: '排程尚未執行過。',
    colStarted: '開始時間',
    colStatus: '狀態',
    colDetail: '已刪除／最舊保留',
    finished: '已完成',
    running: '執行中',
    none: '無保留資料',
  },
};

const PATH = '/admin/v1/privacy/retention';

// The PUT body for what was typed: only the configurable kinds whose days changed; a kind whose
// text is not a whole number is returned as `invalid`.
export function retentionChange(settings, typed) {
  const days = {};
  for (const [kind, info] of Object.entries(settings.kinds)) {
    if (!info.configurable || typed[kind] === undefined) continue;
    const text = String(typed[kind]).trim();
    if (!/^\d+$/.test(text)) return { invalid: kind };
    const value = Number(text);
    if (value !== info.days) days[kind] = value;
  }
  return { version: settings.version, days };
}

function mechanismWord(t, info, lang) {
  if (info.mechanism === 'follows') return t('follows', { kind: kindName(info.follows, lang) });
  return t(info.mechanism);
}

function RetentionForm({ settings, t, onSaved }) {
  const { api, lang } = useApp();
  const [typed, setTyped] = useState(() => Object.fromEntries(Object.entries(settings.kinds).map(([k, v]) => [k, String(v.days)])));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const lastRun = settings.runs.find((run) => run.kinds && Object.keys(run.kinds).length) || null;
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    const change = retentionChange(settings, typed);
    if (change.invalid) {
      setNotice({ bad: true, text: t('notNumber', { kind: kindName(change.invalid, lang) }) });
      return;
    }
    if (!Object.keys(change.days).length) {
      setNotice({ bad: false, text: t('nothing') });
      return;
    }
    setBusy(true);
    try {
      const answer = await api.put(PATH, change);
      onSaved(answer, t('saved', { v: answer.version }));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const rows = Object.entries(settings.kinds);
  // noValidate: the API's refusal names the kind and its bounds in words (the bounds are shown too)
  return (
    <form onSubmit={submit} noValidate>
      <Table
        testid="retention-kinds"
        rows={rows}
        rowKey={([kind]) => kind}
        columns={[
          { key: 'kind', label: t('colKind'), render: ([kind, info]) => <span title={info.removes} data-kind={kind}>{kindName(kind, lang)}</span> },
          {
            key: 'days',
            label: t('colDays'),
            render: ([kind, info]) =>
              info.configurable ? (
                <input
                  type="number"
                  min={info.min_days}
                  max={info.max_days}
                  step="1"
                  style={{ width: '7em' }}
                  value={typed[kind]}
                  onInput={(e) => setTyped({ ...typed, [kind]: e.currentTarget.value })}
                  data-testid={`retention-days-${kind}`}
                  aria-label={kindName(kind, lang)}
                />
              ) : (
                <span data-testid={`retention-days-${kind}`} title={t('notConfigurable')}>{t('days', { n: formatNumber(info.days, lang) })}</span>
              ),
          },
          { key: 'bounds', label: t('colBounds'), render: ([, info]) => (info.configurable ? <span title={info.bounds}>{t('bounds', { min: info.min_days, max: info.max_days })}</span> : t('notConfigurable')) },
          { key: 'default', label: t('colDefault'), value: ([, info]) => t('days', { n: formatNumber(info.default_days, lang) }) },
          { key: 'mechanism', label: t('colMechanism'), value: ([, info]) => mechanismWord(t, info, lang) },
          { key: 'removed', label: t('colRemoved'), numeric: true, value: ([kind]) => lastRun?.kinds?.[kind]?.removed ?? null },
          {
            key: 'oldest',
            label: t('colOldest'),
            value: ([kind]) => {
              const ran = lastRun?.kinds?.[kind];
              if (!ran) return '—';
              return ran.oldest_kept ? formatDateTime(ran.oldest_kept, lang) : t('none');
            },
          },
        ]}
      />
      <div class="row" style={{ marginTop: '0.75rem', alignItems: 'center' }}>
        <button type="submit" class="primary" disabled={busy} data-testid="retention-save">
          {busy ? t('saving') : t('save')}
        </button>
        {notice && (
          <span class={notice.bad ? 'error' : 'hint'} data-testid="retention-notice">
            {notice.text}
          </span>
        )}
        <ErrorMessage error={error} testid="retention-error" />
      </div>
    </form>
  );
}

function Runs({ runs, t }) {
  const { lang } = useApp();
  return (
    <Table
      testid="retention-runs"
      empty={t('noRuns')}
      rows={runs}
      rowKey={(r) => r.run_id}
      columns={[
        { key: 'started_at', label: t('colStarted'), value: (r) => formatDateTime(r.started_at || r.run_id, lang) },
        { key: 'status', label: t('colStatus'), render: (r) => <span class={`pill ${r.status === 'finished' ? 'ok' : ''}`}>{t(r.status) || r.status}</span> },
        {
          key: 'kinds',
          label: t('colDetail'),
          render: (r) =>
            Object.entries(r.kinds || {}).map(([kind, k]) => (
              <div key={kind} data-kind={kind}>
                {kindName(kind, lang)}: {formatNumber(k.removed, lang)} / {k.oldest_kept ? formatDateTime(k.oldest_kept, lang) : t('none')}
              </div>
            )),
        },
      ]}
    />
  );
}

export default function RetentionPage({ t }) {
  const { lang } = useApp();
  const state = useApiData((api) => api.get(PATH), []);
  const [saved, setSaved] = useState(null);
  return (
    <div>
      <h1>{t('title')}</h1>
      <p class="hint">{t('hint')}</p>
      <Async state={state} testid="retention">
        {(settings) => (
          <>
            <Card title={t('kinds')} testid="retention-settings">
              {settings.updated_at && <p class="hint">{t('version', { v: settings.version, at: formatDateTime(settings.updated_at, lang) })}</p>}
              {saved && (
                <p class="pill ok" data-testid="retention-saved">
                  {saved}
                </p>
              )}
              <RetentionForm
                settings={settings}
                t={t}
                key={settings.version}
                onSaved={(answer, text) => {
                  setSaved(text);
                  state.reload();
                }}
              />
            </Card>
            <Card title={t('runs')} testid="retention-runs-card">
              <p class="hint">{t('runsHint')}</p>
              <Runs runs={settings.runs} t={t} />
            </Card>
          </>
        )}
      </Async>
    </div>
  );
}
