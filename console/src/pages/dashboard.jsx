import { useState } from 'preact/hooks';
import { Chart } from '../components/Chart.jsx';
import { DateRange, lastDays } from '../components/DateRange.jsx';
import { Async, Card, Kpi, useApiData, useApp } from '../components/ui.jsx';
import { formatMoney, formatNumber, formatPercent } from '../i18n.js';

export const strings = {
  en: {
    title: 'Dashboard',
    friends: 'LINE friends',
    reachable: 'Reachable people',
    buyers: 'Buyers',
    revenue: 'Revenue',
    block_rate: 'Block rate',
    tag_coverage: 'Tag coverage',
    friendsHint: 'at the end of the range',
    buyersHint: 'people who ordered in the range',
    blockHint: 'blocks ÷ friends at the start',
    coverageHint: 'friends with at least one tag',
    audience: 'Friends and reachable people',
    sales: 'Buyers per day',
    revenueChart: 'Revenue per day',
    asOf: 'Data as of {at}',
  },
  'zh-TW': {
    title: '總覽',
    friends: 'LINE 好友數',
    reachable: '可觸及人數',
    buyers: '購買人數',
    revenue: '營收',
    block_rate: '封鎖率',
    tag_coverage: '標籤覆蓋率',
    friendsHint: '期間結束時',
    buyersHint: '期間內有下單的人數',
    blockHint: '封鎖數 ÷ 期初好友數',
    coverageHint: '至少有一個標籤的好友',
    audience: '好友與可觸及人數',
    sales: '每日購買人數',
    revenueChart: '每日營收',
    asOf: '資料時間 {at}',
  },
};

export default function Dashboard({ t }) {
  const { lang } = useApp();
  const [range, setRange] = useState(() => lastDays(30));
  const state = useApiData((api) => api.get('/admin/v1/reports/overview', { from: range.from, to: range.to, tz: 'Asia/Taipei' }), [range.from, range.to]);
  return (
    <div>
      <h1>{t('title')}</h1>
      <div class="toolbar">
        <DateRange value={range} onChange={setRange} testid="dashboard-range" />
      </div>
      <Async state={state} testid="dashboard">
        {(report) => {
          const k = report.kpis;
          const days = report.days;
          return (
            <div data-testid="dashboard-report">
              <div class="kpis">
                <Kpi testid="kpi-friends" label={t('friends')} value={formatNumber(k.friends.value, lang)} hint={t('friendsHint')} />
                <Kpi testid="kpi-reachable" label={t('reachable')} value={formatNumber(k.reachable.value, lang)} hint={t('friendsHint')} />
                <Kpi testid="kpi-buyers" label={t('buyers')} value={formatNumber(k.buyers.value, lang)} hint={t('buyersHint')} />
                <Kpi testid="kpi-revenue" label={t('revenue')} value={formatMoney(k.revenue.value, lang)} />
                <Kpi testid="kpi-block-rate" label={t('block_rate')} value={formatPercent(k.block_rate.value, lang, 2)} hint={t('blockHint')} />
                <Kpi testid="kpi-tag-coverage" label={t('tag_coverage')} value={formatPercent(k.tag_coverage.value, lang)} hint={t('coverageHint')} />
              </div>
              <div class="grid">
                <Card title={t('audience')}>
                  <Chart testid="dashboard-audience-chart" labels={days} series={[
                    { label: t('friends'), data: k.friends.trend },
                    { label: t('reachable'), data: k.reachable.trend },
                  ]} />
                </Card>
                <Card title={t('sales')}>
                  <Chart testid="dashboard-buyers-chart" type="bar" labels={days} series={[{ label: t('buyers'), data: k.buyers.trend }]} />
                </Card>
                <Card title={t('revenueChart')}>
                  <Chart testid="dashboard-revenue-chart" type="bar" labels={days} series={[{ label: t('revenue'), data: k.revenue.trend, color: '#2f6fde' }]} />
                </Card>
                <Card title={t('block_rate')}>
                  <Chart testid="dashboard-block-rate-chart" percent labels={days} series={[{ label: t('block_rate'), data: k.block_rate.trend, color: '#e8590c' }]} />
                </Card>
                <Card title={t('tag_coverage')}>
                  <Chart testid="dashboard-tag-coverage-chart" percent labels={days} series={[{ label: t('tag_coverage'), data: k.tag_coverage.trend, color: '#7048e8' }]} />
                </Card>
              </div>
              <p class="hint" data-testid="dashboard-as-of">{t('asOf', { at: report.as_of || report.archive_as_of || '—' })}</p>
            </div>
          );
        }}
      </Async>
    </div>
  );
}
