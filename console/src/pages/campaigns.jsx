import { useState } from 'preact/hooks';
import { Chart } from '../components/Chart.jsx';
import { Async, Card, ErrorMessage, Kpi, Table, useApiData, useApp } from '../components/ui.jsx';
import { formatDateTime, formatMoney, formatNumber, formatPercent } from '../i18n.js';

// Campaigns: the list, and per campaign the pre-send check (audience, reach per channel, LINE's
// monthly quota, the cost estimate) and the report of what was sent.
export const strings = {
  en: {
    title: 'Campaigns',
    list: 'Campaigns',
    name: 'Name',
    status: 'Status',
    segment: 'Segment',
    template: 'Template',
    channels: 'Channels',
    schedule: 'Schedule',
    updated: 'Updated',
    none: 'No campaigns yet. Campaigns are created through the admin API.',
    back: 'All campaigns',
    preflight: 'Pre-send check',
    runPreflight: 'Check now',
    checking: 'Checking…',
    checkedAt: 'Checked {t}',
    noPreflight: 'Run the check to see the audience, LINE quota and cost before sending.',
    audience: 'Audience',
    recipients: 'Will receive',
    heldQuiet: 'Held for quiet hours',
    reachable: 'Reachable',
    sending: 'Sending on',
    suppressed: 'Not sent (reason)',
    reason: 'Reason',
    people: 'People',
    lineMessages: 'LINE messages',
    lineUsed: 'Used this month',
    lineQuota: 'Monthly quota',
    lineRemaining: 'Remaining',
    noLimit: 'no limit',
    overQuota: 'Over LINE quota',
    cost: 'Estimated cost',
    budget: 'Budget',
    overBudget: 'Over budget',
    report: 'Report',
    sent: 'Sent',
    clicks: 'Unique clicks',
    ctr: 'Click-through rate',
    conversions: 'Buyers',
    revenue: 'Revenue',
    blockRate: 'Block rate (48 h)',
    actualCost: 'Cost',
    channel: 'Channel',
  },
  'zh-TW': {
    title: '活動訊息',
    list: '活動列表',
    name: '名稱',
    status: '狀態',
    segment: '分眾',
    template: '範本',
    channels: '管道',
    schedule: '排程',
    updated: '更新時間',
    none: '尚無活動。活動可透過管理 API 建立。',
    back: '所有活動',
    preflight: '發送前檢查',
    runPreflight: '立即檢查',
    checking: '檢查中…',
    checkedAt: '檢查時間 {t}',
    noPreflight: '執行檢查即可在發送前看到受眾、LINE 額度與費用。',
    audience: '受眾',
    recipients: '將收到',
    heldQuiet: '勿擾時段延後',
    reachable: '可觸及',
    sending: '將使用的管道',
    suppressed: '不發送（原因）',
    reason: '原因',
    people: '人數',
    lineMessages: 'LINE 訊息數',
    lineUsed: '本月已使用',
    lineQuota: '每月額度',
    lineRemaining: '剩餘',
    noLimit: '無上限',
    overQuota: '超過 LINE 額度',
    cost: '預估費用',
    budget: '預算',
    overBudget: '超過預算',
    report: '成效報告',
    sent: '已發送',
    clicks: '不重複點擊',
    ctr: '點擊率',
    conversions: '購買人數',
    revenue: '營收',
    blockRate: '封鎖率（48 小時）',
    actualCost: '費用',
    channel: '管道',
  },
};

function scheduleText(schedule, lang) {
  if (!schedule) return '—';
  if (schedule.kind === 'at') return `${schedule.at} (${schedule.time_zone})`;
  if (schedule.kind === 'recurring') return schedule.expression;
  return lang === 'en' ? 'now' : '立即';
}

function List({ t }) {
  const { lang } = useApp();
  const state = useApiData((api) => api.get('/admin/v1/campaigns'), []);
  const columns = [
    { key: 'name', label: t('name'), render: (c) => <a href={`#/campaigns/${encodeURIComponent(c.campaign_id)}`} data-testid="campaigns-row-link">{c.name}</a> },
    { key: 'status', label: t('status'), render: (c) => <span class="pill">{c.status}</span> },
    { key: 'segment_id', label: t('segment') },
    { key: 'template_id', label: t('template') },
    { key: 'channels', label: t('channels'), value: (c) => c.channels.join(' → ') },
    { key: 'schedule', label: t('schedule'), value: (c) => scheduleText(c.schedule, lang) },
    { key: 'updated_at', label: t('updated'), render: (c) => formatDateTime(c.updated_at, lang) },
  ];
  return (
    <Card title={t('list')} testid="campaigns-list">
      <Async state={state} testid="campaigns-list">
        {(data) => <Table testid="campaigns-table" columns={columns} rows={data.campaigns} empty={t('none')} rowKey={(c) => c.campaign_id} />}
      </Async>
    </Card>
  );
}

function Preflight({ campaign, t }) {
  const { api, lang } = useApp();
  const [figures, setFigures] = useState(campaign.last_preflight);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      setFigures(await api.post(`/admin/v1/campaigns/${encodeURIComponent(campaign.campaign_id)}/preflight`, {}));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const currency = figures?.cost?.currency || 'TWD';
  const channels = figures ? Object.keys({ ...figures.reachable, ...figures.sending }) : [];
  return (
    <Card
      title={t('preflight')}
      testid="campaigns-preflight"
      actions={
        <button type="button" class="primary" onClick={run} disabled={busy} data-testid="campaigns-preflight-run">
          {busy ? t('checking') : t('runPreflight')}
        </button>
      }
    >
      <ErrorMessage error={error} testid="campaigns-preflight-error" />
      {!figures ? (
        <p class="hint">{t('noPreflight')}</p>
      ) : (
        <div data-testid="campaigns-preflight-figures">
          <p class="hint">{t('checkedAt', { t: formatDateTime(figures.evaluated_at, lang) })}</p>
          <div class="kpis">
            <Kpi label={t('audience')} value={formatNumber(figures.audience, lang)} testid="campaigns-preflight-audience" />
            <Kpi label={t('recipients')} value={formatNumber(figures.recipients, lang)} testid="campaigns-preflight-recipients" />
            <Kpi label={t('heldQuiet')} value={formatNumber(figures.held_quiet_hours, lang)} />
            <Kpi label={t('cost')} value={formatMoney(figures.cost.total, lang, currency)} testid="campaigns-preflight-cost" hint={figures.over_budget ? t('overBudget') : figures.budget !== null ? `${t('budget')} ${formatMoney(figures.budget, lang, currency)}` : undefined} />
          </div>
          <div class="kpis">
            <Kpi label={t('lineMessages')} value={formatNumber(figures.line.messages, lang)} testid="campaigns-preflight-line-messages" />
            <Kpi label={t('lineUsed')} value={formatNumber(figures.line.consumption, lang)} />
            <Kpi label={t('lineQuota')} value={figures.line.quota === undefined ? '—' : figures.line.quota === null ? t('noLimit') : formatNumber(figures.line.quota, lang)} testid="campaigns-preflight-quota" />
            <Kpi label={t('lineRemaining')} value={figures.line.remaining === undefined ? '—' : figures.line.remaining === null ? t('noLimit') : formatNumber(figures.line.remaining, lang)} hint={figures.line.over_quota ? t('overQuota') : undefined} />
          </div>
          <div class="grid">
            <Table
              testid="campaigns-preflight-channels"
              columns={[
                { key: 'channel', label: t('channel') },
                { key: 'reachable', label: t('reachable'), numeric: true },
                { key: 'sending', label: t('sending'), numeric: true },
              ]}
              rows={channels.map((channel) => ({ channel, reachable: figures.reachable[channel] ?? 0, sending: figures.sending[channel] ?? 0 }))}
            />
            <Table
              testid="campaigns-preflight-suppressed"
              columns={[
                { key: 'reason', label: t('reason') },
                { key: 'people', label: t('people'), numeric: true },
              ]}
              rows={Object.entries(figures.suppressed).map(([reason, people]) => ({ reason, people }))}
            />
          </div>
        </div>
      )}
    </Card>
  );
}

function Report({ campaign, t }) {
  const { lang } = useApp();
  const state = useApiData((api) => api.get(`/admin/v1/campaigns/${encodeURIComponent(campaign.campaign_id)}/report`), [campaign.campaign_id]);
  return (
    <Card title={t('report')} testid="campaigns-report">
      <Async state={state} testid="campaigns-report">
        {(report) => (
          <div>
            <div class="kpis">
              <Kpi label={t('sent')} value={formatNumber(report.sent_total, lang)} testid="campaigns-report-sent" />
              <Kpi label={t('clicks')} value={formatNumber(report.unique_clicks, lang)} testid="campaigns-report-clicks" />
              <Kpi label={t('ctr')} value={formatPercent(report.ctr, lang)} />
              <Kpi label={t('conversions')} value={formatNumber(report.conversions.buyers, lang)} />
              <Kpi label={t('revenue')} value={formatMoney(report.conversions.revenue, lang, report.cost.currency)} />
              <Kpi label={t('blockRate')} value={formatPercent(report.line.block_rate, lang, 2)} />
              <Kpi label={t('actualCost')} value={formatMoney(report.cost.total, lang, report.cost.currency)} />
            </div>
            <Chart
              testid="campaigns-report-chart"
              type="bar"
              labels={[t('sent'), t('clicks'), t('conversions')]}
              series={[{ label: campaign.name, data: [report.sent_total, report.unique_clicks, report.conversions.buyers] }]}
              height={200}
            />
          </div>
        )}
      </Async>
    </Card>
  );
}

function Detail({ id, t }) {
  const state = useApiData((api) => api.get(`/admin/v1/campaigns/${encodeURIComponent(id)}`), [id]);
  return (
    <div>
      <p>
        <a href="#/campaigns" data-testid="campaigns-back">
          ← {t('back')}
        </a>
      </p>
      <Async state={state} testid="campaigns-detail">
        {(campaign) => (
          <div data-testid="campaigns-detail">
            <h2>
              {campaign.name} <span class="pill">{campaign.status}</span>
            </h2>
            <p class="hint">
              {t('segment')}: {campaign.segment_id} · {t('template')}: {campaign.template_id} · {t('channels')}: {campaign.channels.join(' → ')}
            </p>
            <Preflight campaign={campaign} t={t} />
            <Report campaign={campaign} t={t} />
          </div>
        )}
      </Async>
    </div>
  );
}

export default function CampaignsPage({ route, t }) {
  const id = route.params[0];
  return (
    <div>
      <h1>{t('title')}</h1>
      {id ? <Detail id={id} t={t} key={id} /> : <List t={t} />}
    </div>
  );
}
