import { useState } from 'preact/hooks';
import { Async, Card, ErrorMessage, Table, useApiData, useApp } from '../components/ui.jsx';
import { saveResponse } from '../api.js';
import { formatDateTime } from '../i18n.js';

// Tracked links and their QR codes: create one, download its QR code (SVG), see its clicks.
export const strings = {
  en: {
    title: 'Links & QR codes',
    create: 'New tracked link',
    url: 'Destination URL',
    src: 'Source',
    srcHint: 'Where the link is used, e.g. qr-poster or store-taipei-101',
    code: 'Short code (optional)',
    campaign: 'Campaign (optional)',
    tags: 'Tags for people who click (optional, comma separated)',
    save: 'Create link',
    saving: 'Creating…',
    created: 'Created {url}',
    list: 'Links',
    publicUrl: 'Link',
    destination: 'Destination',
    clicks: 'Clicks',
    known: 'Known people',
    anonymous: 'Anonymous',
    createdAt: 'Created',
    qr: 'QR code',
    download: 'Download SVG',
    more: 'Show older links',
  },
  'zh-TW': {
    title: '連結與 QR 碼',
    create: '建立追蹤連結',
    url: '目的網址',
    src: '來源',
    srcHint: '連結使用的地方，例如 qr-poster 或 store-taipei-101',
    code: '短代碼（選填）',
    campaign: '活動（選填）',
    tags: '點擊者要加上的標籤（選填，以逗號分隔）',
    save: '建立連結',
    saving: '建立中…',
    created: '已建立 {url}',
    list: '連結',
    publicUrl: '連結',
    destination: '目的網址',
    clicks: '點擊數',
    known: '已知顧客',
    anonymous: '匿名',
    createdAt: '建立時間',
    qr: 'QR 碼',
    download: '下載 SVG',
    more: '顯示較舊的連結',
  },
};

function QrPreview({ code, t }) {
  const { api } = useApp();
  const state = useApiData(async (client) => (await client.raw('GET', `/admin/v1/links/${encodeURIComponent(code)}/qr.svg`)).text(), [code]);
  const [error, setError] = useState(null);
  const download = async () => {
    try {
      await saveResponse(await api.raw('GET', `/admin/v1/links/${encodeURIComponent(code)}/qr.svg`), `qr-${code}.svg`);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <Card title={`${t('qr')} · ${code}`} testid="links-qr" actions={<button type="button" onClick={download} data-testid="links-qr-download">{t('download')}</button>}>
      <Async state={state} testid="links-qr-image">
        {(svg) => <img alt={code} width="200" height="200" data-testid="links-qr-image" src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`} />}
      </Async>
      <ErrorMessage error={error} />
    </Card>
  );
}

export default function LinksPage({ t }) {
  const { api, lang, can = () => true } = useApp();
  const [form, setForm] = useState({ url: '', src: 'qr-poster', code: '', campaign: '', tags: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [selected, setSelected] = useState(null);
  const [pages, setPages] = useState([null]);
  const [serial, setSerial] = useState(0);
  const state = useApiData(async (client) => {
    const links = [];
    let next = null;
    for (const before of pages) {
      const page = await client.get('/admin/v1/links', { limit: 50, before: before || undefined });
      links.push(...page.links);
      next = page.next;
    }
    return { links, next };
  }, [pages.join(','), serial]);

  const set = (key) => (e) => setForm({ ...form, [key]: e.currentTarget.value });
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const body = { url: form.url.trim(), src: form.src.trim() };
    if (form.code.trim()) body.code = form.code.trim();
    if (form.campaign.trim()) body.campaign = form.campaign.trim();
    const tags = form.tags.split(',').map((x) => x.trim()).filter(Boolean);
    if (tags.length) body.tags = tags;
    try {
      const link = await api.post('/admin/v1/links', body);
      setSelected(link.code);
      setForm({ ...form, url: '', code: '' });
      setPages([null]);
      setSerial(serial + 1);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const columns = [
    { key: 'public_url', label: t('publicUrl'), render: (l) => <a href="#/links" onClick={(e) => { e.preventDefault(); setSelected(l.code); }} data-testid="links-row-code">{l.public_url}</a>, value: (l) => l.public_url },
    { key: 'url', label: t('destination') },
    { key: 'src', label: t('src') },
    { key: 'clicks', label: t('clicks'), numeric: true, value: (l) => l.clicks.total },
    { key: 'known', label: t('known'), numeric: true, value: (l) => l.clicks.known },
    { key: 'anonymous', label: t('anonymous'), numeric: true, value: (l) => l.clicks.anonymous },
    { key: 'created_at', label: t('createdAt'), render: (l) => formatDateTime(l.created_at, lang) },
  ];
  return (
    <div>
      <h1>{t('title')}</h1>
      <div class="split">
        <Card title={t('create')} testid="links-create">
          <form onSubmit={submit} class="stack" style={{ display: 'flex', flexDirection: 'column', gap: '0.5rem' }}>
            <label>
              {t('url')}
              <input type="url" required value={form.url} onInput={set('url')} placeholder="https://" data-testid="links-url" />
            </label>
            <label>
              {t('src')}
              <input required value={form.src} onInput={set('src')} data-testid="links-src" />
              <span class="hint">{t('srcHint')}</span>
            </label>
            <label>
              {t('code')}
              <input value={form.code} onInput={set('code')} data-testid="links-code" />
            </label>
            <label>
              {t('campaign')}
              <input value={form.campaign} onInput={set('campaign')} data-testid="links-campaign" />
            </label>
            <label>
              {t('tags')}
              <input value={form.tags} onInput={set('tags')} data-testid="links-tags" />
            </label>
            <ErrorMessage error={error} testid="links-error" />
            <button type="submit" class="primary" disabled={busy || !can('marketer')} data-testid="links-submit">
              {busy ? t('saving') : t('save')}
            </button>
          </form>
        </Card>
        {selected ? <QrPreview code={selected} t={t} key={selected} /> : <div />}
      </div>
      <Card title={t('list')} testid="links-list">
        <Async state={state} testid="links-list">
          {(data) => (
            <div>
              <Table testid="links-table" columns={columns} rows={data.links} rowKey={(l) => l.code} />
              {data.next && (
                <button type="button" onClick={() => setPages([...pages, data.next])} data-testid="links-more">
                  {t('more')}
                </button>
              )}
            </div>
          )}
        </Async>
      </Card>
    </div>
  );
}
