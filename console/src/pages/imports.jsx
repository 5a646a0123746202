import { useEffect, useRef, useState } from 'preact/hooks';
import { Card, ErrorMessage, Kpi, useApp } from '../components/ui.jsx';
import { formatDateTime, formatNumber, formatPercent } from '../i18n.js';

// Member CSV import: the file goes to POST /admin/v1/imports/members as the request body
// (text/csv), then GET /admin/v1/imports/{id} is polled for progress until it completes. Files
// over the inline limit go to a presigned upload first (the API says so with a 413).
export const strings = {
  en: {
    title: 'Member import',
    intro: 'Upload a CSV of members (member id, phone, email, name, birthday, store, consent). Chinese headers are understood.',
    file: 'CSV file',
    upload: 'Import',
    uploading: 'Uploading…',
    progress: 'Progress',
    status: 'Status',
    awaiting_upload: 'Waiting for the file',
    queued: 'Queued',
    running: 'Importing',
    completed: 'Completed',
    failed: 'Failed',
    rowsTotal: 'Rows',
    rowsAccepted: 'Imported',
    rowsRejected: 'Rejected',
    rowsWarnings: 'With warnings',
    columns: 'Columns recognised',
    ignored: 'Columns ignored',
    rejectedHint: 'Rejected rows and warnings can be downloaded through the admin API (GET /admin/v1/imports/{id}/rejected).',
    started: 'Started',
    finished: 'Finished',
    bigFile: 'Large file: uploading it directly to storage…',
  },
  'zh-TW': {
    title: '會員匯入',
    intro: '上傳會員 CSV（會員編號、手機、Email、姓名、生日、門市、同意狀態），可使用中文欄位名稱。',
    file: 'CSV 檔案',
    upload: '匯入',
    uploading: '上傳中…',
    progress: '進度',
    status: '狀態',
    awaiting_upload: '等待上傳檔案',
    queued: '排隊中',
    running: '匯入中',
    completed: '已完成',
    failed: '失敗',
    rowsTotal: '總列數',
    rowsAccepted: '已匯入',
    rowsRejected: '已拒絕',
    rowsWarnings: '有警告',
    columns: '已辨識欄位',
    ignored: '已忽略欄位',
    rejectedHint: '被拒絕及有警告的資料列可透過管理 API 下載（GET /admin/v1/imports/{id}/rejected）。',
    started: '開始時間',
    finished: '完成時間',
    bigFile: '檔案較大：直接上傳到儲存空間…',
  },
};

const POLL_MS = 500;
const DONE = new Set(['completed', 'failed']);

export default function ImportsPage({ t }) {
  const { api, lang, can = () => true } = useApp();
  const [file, setFile] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [job, setJob] = useState(null);
  const [note, setNote] = useState(null);
  const timer = useRef(null);

  useEffect(() => () => clearTimeout(timer.current), []);

  const poll = async (statusUrl) => {
    try {
      const current = await api.get(statusUrl);
      setJob(current);
      if (!DONE.has(current.status)) timer.current = setTimeout(() => poll(statusUrl), POLL_MS);
    } catch (failure) {
      setError(failure);
    }
  };

  const uploadPresigned = async () => {
    setNote(t('bigFile'));
    const created = await api.post('/admin/v1/imports/members', { upload: 'presigned' });
    const put = await fetch(created.upload.url, { method: 'PUT', headers: created.upload.headers, body: file });
    if (!put.ok) throw Object.assign(new Error('upload failed'), { code: 'upload_failed', status: put.status });
    return api.post(created.start_url, {});
  };

  const submit = async (event) => {
    event.preventDefault();
    if (!file) return;
    clearTimeout(timer.current);
    setBusy(true);
    setError(null);
    setNote(null);
    setJob(null);
    try {
      let accepted;
      try {
        const response = await api.raw('POST', '/admin/v1/imports/members', { body: file, contentType: 'text/csv; charset=utf-8' });
        accepted = await response.json();
      } catch (failure) {
        if (failure.code !== 'inline_upload_too_large' && failure.code !== 'file_too_large') throw failure;
        accepted = await uploadPresigned();
      }
      setJob(accepted);
      poll(accepted.status_url);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const progress = job ? (job.status === 'completed' ? 1 : job.progress ?? 0) : 0;
  return (
    <div>
      <h1>{t('title')}</h1>
      <Card testid="imports-upload">
        <p class="hint">{t('intro')}</p>
        <form class="row" onSubmit={submit}>
          <label>
            {t('file')}
            <input type="file" accept=".csv,text/csv" data-testid="imports-file" onChange={(e) => setFile(e.currentTarget.files[0] || null)} />
          </label>
          <button type="submit" class="primary" disabled={!file || busy || !can('admin')} data-testid="imports-submit">
            {busy ? t('uploading') : t('upload')}
          </button>
        </form>
        {note && <p class="hint">{note}</p>}
        <ErrorMessage error={error} testid="imports-error" />
      </Card>
      {job && (
        <Card title={`${t('status')}: ${t(job.status)}`} testid="imports-job">
          <span hidden data-testid="imports-id">{job.import_id}</span>
          <div class="row" style={{ alignItems: 'center' }}>
            <progress
              max="1"
              value={progress}
              style={{ width: '100%', height: '1.2rem' }}
              data-testid="imports-progress"
              data-status={job.status}
              data-progress={String(progress)}
              aria-label={t('progress')}
            />
            <strong data-testid="imports-progress-text">{formatPercent(progress, lang, 0)}</strong>
          </div>
          <div class="kpis" style={{ marginTop: '1rem' }}>
            <Kpi label={t('rowsTotal')} value={formatNumber(job.rows_total, lang)} testid="imports-rows-total" />
            <Kpi label={t('rowsAccepted')} value={formatNumber(job.rows_accepted, lang)} testid="imports-rows-accepted" />
            <Kpi label={t('rowsRejected')} value={formatNumber(job.rows_rejected, lang)} testid="imports-rows-rejected" />
            <Kpi label={t('rowsWarnings')} value={formatNumber(job.rows_with_warnings, lang)} testid="imports-rows-warnings" />
          </div>
          {job.columns && (
            <p class="hint">
              {t('columns')}: {Object.entries(job.columns).map(([canonical, header]) => (
                <span class="pill" key={canonical}>{`${header} → ${canonical}`}</span>
              ))}
            </p>
          )}
          {job.ignored_columns?.length > 0 && (
            <p class="hint">
              {t('ignored')}: {job.ignored_columns.join(', ')}
            </p>
          )}
          <p class="hint">
            {t('started')}: {formatDateTime(job.started_at, lang)} · {t('finished')}: {formatDateTime(job.completed_at, lang)}
          </p>
          {job.status === 'completed' && job.rows_rejected + job.rows_with_warnings > 0 && <p class="hint">{t('rejectedHint')}</p>}
          {job.error && <ErrorMessage error={{ code: job.error.code, message: job.error.message }} testid="imports-job-error" />}
        </Card>
      )}
    </div>
  );
}
