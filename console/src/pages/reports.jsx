import { useState } from 'preact/hooks';
import { Chart } from '../components/Chart.jsx';
import { Async, Card, Kpi, Table, useApiData, useApp } from '../components/ui.jsx';
import { downloadBlob, toCsv } from '../api.js';
import { formatMoney, formatNumber, formatPercent } from '../i18n.js';

// Reports: each one a chart and a table over the same answer, and the table exportable as CSV.
// The query each report sent is on its card (data-query), so what is shown can be checked
// against the API.
export const strings = {
  en: {
    title: 'Reports',
    trend: 'Event trend',
    funnel: 'Funnel',
    retention: 'Retention',
    distribution: 'Distribution',
    friends: 'Friends and blocks',
    groups: 'Customer groups',
    health: 'Data health',
    from: 'From',
    to: 'To',
    export: 'Export CSV',
    interval: 'Interval',
    day: 'Day',
    week: 'Week',
    month: 'Month',
    splitBy: 'Split by',
    channel: 'Channel',
    name: 'Event name',
    none: 'None',
    bucket: 'Period',
    total: 'Total',
    step: 'Step',
    people: 'People',
    conversion: 'Conversion',
    overall: 'Overall',
    medianTime: 'Median time',
    windowDays: 'Window (days)',
    all: 'All',
    online: 'Online',
    offline: 'Store',
    line: 'LINE',
    other: 'Other',
    period: 'Cohort by',
    cohort: 'Cohort',
    size: 'Size',
    repeatBuyers: 'Repeat buyers',
    repeatRate: 'Repeat-purchase rate',
    buyersInRange: 'Buyers in range',
    field: 'Field',
    event: 'Event',
    show: 'Show',
    bin: 'Range',
    value: 'Value',
    count: 'Count',
    missing: 'Missing',
    others: 'Others',
    date: 'Date',
    newFriends: 'New friends',
    blocks: 'Blocks',
    unblocks: 'Unblocks',
    netGrowth: 'Net growth',
    friendsEnd: 'Friends at end of day',
    blockRate: 'Block rate',
    group: 'Group',
    kind: 'Kind',
    revenue: 'Revenue',
    orders: 'Orders',
    revenuePerPerson: 'Revenue per person',
    channelGroup: 'Channel group',
    rfmGroup: 'RFM group',
    identifier: 'Identifier',
    present: 'Present',
    missingRate: 'Missing rate',
    profiles: 'Profiles',
    friendsTagged: 'Friends with a tag',
    tagCoverage: 'Tag coverage',
    asOf: 'Data as of {t}',
  },
  'zh-TW': {
    title: '報表',
    trend: '事件趨勢',
    funnel: '轉換漏斗',
    retention: '回購留存',
    distribution: '分布',
    friends: '好友與封鎖',
    groups: '顧客分群',
    health: '資料健康度',
    from: '開始',
    to: '結束',
    export: '匯出 CSV',
    interval: '週期',
    day: '日',
    week: '週',
    month: '月',
    splitBy: '拆分依據',
    channel: '管道',
    name: '事件名稱',
    none: '不拆分',
    bucket: '期間',
    total: '合計',
    step: '步驟',
    people: '人數',
    conversion: '轉換率',
    overall: '整體轉換',
    medianTime: '中位時間',
    windowDays: '轉換期限（天）',
    all: '全部',
    online: '線上',
    offline: '門市',
    line: 'LINE',
    other: '其他',
    period: '世代依',
    cohort: '世代',
    size: '人數',
    repeatBuyers: '回購人數',
    repeatRate: '回購率',
    buyersInRange: '期間購買人數',
    field: '欄位',
    event: '事件',
    show: '顯示',
    bin: '區間',
    value: '值',
    count: '數量',
    missing: '無值',
    others: '其他',
    date: '日期',
    newFriends: '新好友',
    blocks: '封鎖',
    unblocks: '解除封鎖',
    netGrowth: '淨成長',
    friendsEnd: '當日好友數',
    blockRate: '封鎖率',
    group: '分群',
    kind: '類型',
    revenue: '營收',
    orders: '訂單數',
    revenuePerPerson: '人均營收',
    channelGroup: '管道分群',
    rfmGroup: 'RFM 分群',
    identifier: '識別碼',
    present: '已有',
    missingRate: '缺漏率',
    profiles: '顧客數',
    friendsTagged: '有標籤的好友',
    tagCoverage: '標籤覆蓋率',
    asOf: '資料時間 {t}',
  },
};

const TABS = ['trend', 'funnel', 'retention', 'distribution', 'friends', 'groups', 'health'];
const TZ = 'Asia/Taipei';

function localDate(offsetDays = 0) {
  const date = new Date(Date.now() + offsetDays * 86400000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
}

function queryString(query) {
  return new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString();
}

function duration(seconds, lang) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 120) return `${formatNumber(seconds, lang, { maximumFractionDigits: 0 })} s`;
  if (seconds < 7200) return `${formatNumber(seconds / 60, lang, { maximumFractionDigits: 1 })} min`;
  if (seconds < 172800) return `${formatNumber(seconds / 3600, lang, { maximumFractionDigits: 1 })} h`;
  return `${formatNumber(seconds / 86400, lang, { maximumFractionDigits: 1 })} d`;
}

// One report: fetches `path` with `query`, draws `chart(data)` and `table(data)`, exports the table.
function Report({ id, t, path, query, controls, chart, table, kpis }) {
  const { lang } = useApp();
  const key = queryString(query);
  const state = useApiData((api) => api.get(path, query), [path, key]);
  return (
    <Card
      title={t(id)}
      testid={`reports-${id}`}
      actions={
        <button
          type="button"
          disabled={!state.data}
          data-testid={`reports-${id}-export`}
          onClick={() => {
            const { columns, rows } = table(state.data);
            downloadBlob(new Blob([toCsv(columns.map((c) => ({ ...c, value: c.csv || c.value })), rows)], { type: 'text/csv;charset=utf-8' }), `${id}-${query.from || ''}-${query.to || ''}.csv`.replace(/-+\.csv$/, '.csv'));
          }}
        >
          {t('export')}
        </button>
      }
    >
      {controls}
      <div data-testid={`reports-${id}-body`} data-path={path} data-query={key}>
        <Async state={state} testid={`reports-${id}`}>
          {(data) => {
            const drawn = chart(data);
            const { columns, rows } = table(data);
            return (
              <div>
                {kpis && <div class="kpis">{kpis(data)}</div>}
                <Chart testid={`reports-${id}-chart`} {...drawn} />
                <Table testid={`reports-${id}-table`} columns={columns} rows={rows} />
                {(data.as_of || data.archive_as_of) && <p class="hint">{t('asOf', { t: new Date(data.as_of || data.archive_as_of).toLocaleString(lang, { timeZone: TZ }) })}</p>}
              </div>
            );
          }}
        </Async>
      </div>
    </Card>
  );
}

function Select({ label, value, onChange, options, testid }) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)} data-testid={testid}>
        {options.map(([v, text]) => (
          <option value={v} key={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

function Trend({ t, range }) {
  const { lang } = useApp();
  const [interval, setStep] = useState('day');
  const [by, setBy] = useState('channel');
  const query = { ...range, interval, by };
  return (
    <Report
      id="trend"
      t={t}
      path="/admin/v1/reports/trend"
      query={query}
      controls={
        <div class="toolbar">
          <Select label={t('interval')} value={interval} onChange={setStep} options={[['day', t('day')], ['week', t('week')]]} testid="reports-trend-interval" />
          <Select label={t('splitBy')} value={by} onChange={setBy} options={[['channel', t('channel')], ['name', t('name')], ['none', t('none')]]} testid="reports-trend-by" />
        </div>
      }
      chart={(data) => ({ type: 'line', labels: data.buckets, series: data.series.map((s) => ({ label: s.key, data: s.values })) })}
      table={(data) => ({
        columns: [
          { key: 'key', label: by === 'name' ? t('name') : t('channel') },
          { key: 'total', label: t('total'), numeric: true },
          ...data.buckets.map((bucket, i) => ({ key: `b${i}`, label: bucket, numeric: true, value: (row) => row.values[i] })),
        ],
        rows: data.series,
      })}
      kpis={(data) => <Kpi label={t('total')} value={formatNumber(data.total, lang)} testid="reports-trend-total" />}
    />
  );
}

const GROUPS = ['all', 'online', 'offline', 'line'];

function Funnel({ t, range }) {
  const { lang } = useApp();
  const [windowDays, setWindowDays] = useState('7');
  return (
    <Report
      id="funnel"
      t={t}
      path="/admin/v1/reports/funnel"
      query={{ ...range, window_days: windowDays }}
      controls={
        <div class="toolbar">
          <Select label={t('windowDays')} value={windowDays} onChange={setWindowDays} options={['1', '3', '7', '14', '30'].map((d) => [d, d])} testid="reports-funnel-window" />
        </div>
      }
      chart={(data) => ({
        type: 'bar',
        labels: data.steps,
        series: GROUPS.map((g) => ({ label: t(g), data: data.groups[g].steps.map((s) => s.people) })),
      })}
      table={(data) => ({
        columns: [
          { key: 'name', label: t('step') },
          { key: 'people', label: t('people'), numeric: true },
          { key: 'conversion', label: t('conversion'), value: (r) => r.conversion, render: (r) => formatPercent(r.conversion, lang) },
          { key: 'overall', label: t('overall'), value: (r) => r.overall, render: (r) => formatPercent(r.overall, lang) },
          { key: 'median_seconds', label: t('medianTime'), value: (r) => r.median_seconds, render: (r) => duration(r.median_seconds, lang) },
          ...GROUPS.slice(1).map((g) => ({ key: g, label: t(g), numeric: true, value: (r) => r[g] })),
        ],
        rows: data.groups.all.steps.map((step, i) => ({ ...step, ...Object.fromEntries(GROUPS.slice(1).map((g) => [g, data.groups[g].steps[i].people])) })),
      })}
    />
  );
}

function Retention({ t, range }) {
  const { lang } = useApp();
  const [period, setPeriod] = useState('week');
  return (
    <Report
      id="retention"
      t={t}
      path="/admin/v1/reports/retention"
      query={{ ...range, period, periods: 8 }}
      controls={
        <div class="toolbar">
          <Select label={t('period')} value={period} onChange={setPeriod} options={[['week', t('week')], ['month', t('month')]]} testid="reports-retention-period" />
        </div>
      }
      chart={(data) => ({
        type: 'bar',
        labels: data.cohorts.map((c) => c.cohort),
        series: [
          { label: t('size'), data: data.cohorts.map((c) => c.size) },
          { label: t('repeatBuyers'), data: data.cohorts.map((c) => c.repeat_buyers) },
        ],
      })}
      table={(data) => ({
        columns: [
          { key: 'cohort', label: t('cohort') },
          { key: 'size', label: t('size'), numeric: true },
          { key: 'repeat_buyers', label: t('repeatBuyers'), numeric: true },
          ...Array.from({ length: data.periods }, (_, k) => ({
            key: `r${k}`,
            label: `+${k}`,
            value: (row) => row.rates[k],
            render: (row) => formatPercent(row.rates[k], lang),
          })),
        ],
        rows: data.cohorts,
      })}
      kpis={(data) => [
        <Kpi key="b" label={t('buyersInRange')} value={formatNumber(data.repeat_purchase.buyers, lang)} testid="reports-retention-buyers" />,
        <Kpi key="r" label={t('repeatRate')} value={formatPercent(data.repeat_purchase.rate, lang)} testid="reports-retention-repeat-rate" />,
      ]}
    />
  );
}

const FIELDS = [
  ['properties.revenue|Order Completed', 'Order Completed · revenue'],
  ['computed.channel_mix|', 'Channel mix (online / store / both)'],
  ['computed.orders.all_time|', 'Orders per person (all time)'],
  ['traits.city|', 'City'],
];

function Distribution({ t, range }) {
  const { lang } = useApp();
  const [choice, setChoice] = useState(FIELDS[0][0]);
  const [field, event] = choice.split('|');
  return (
    <Report
      id="distribution"
      t={t}
      path="/admin/v1/reports/distribution"
      query={{ ...range, field, event: event || undefined }}
      controls={
        <div class="toolbar">
          <Select label={t('field')} value={choice} onChange={setChoice} options={FIELDS} testid="reports-distribution-field" />
        </div>
      }
      chart={(data) =>
        data.kind === 'numeric'
          ? { type: 'bar', labels: (data.bins || []).map((b) => `${formatNumber(b.lower, lang)}–${formatNumber(b.upper, lang)}`), series: [{ label: t('count'), data: (data.bins || []).map((b) => b.count) }] }
          : { type: 'bar', labels: (data.top || []).map((v) => v.value), series: [{ label: t('count'), data: (data.top || []).map((v) => v.count) }] }
      }
      table={(data) =>
        data.kind === 'numeric'
          ? {
              columns: [
                { key: 'range', label: t('bin'), value: (b) => `${b.lower}–${b.upper}` },
                { key: 'count', label: t('count'), numeric: true },
              ],
              rows: data.bins || [],
            }
          : {
              columns: [
                { key: 'value', label: t('value') },
                { key: 'count', label: t('count'), numeric: true },
              ],
              rows: [...(data.top || []), ...(data.other ? [{ value: t('others'), count: data.other }] : [])],
            }
      }
      kpis={(data) => [
        <Kpi key="c" label={t('count')} value={formatNumber(data.count, lang)} testid="reports-distribution-count" />,
        <Kpi key="m" label={t('missing')} value={formatNumber(data.missing, lang)} testid="reports-distribution-missing" />,
      ]}
    />
  );
}

function Friends({ t, range }) {
  const { lang } = useApp();
  return (
    <Report
      id="friends"
      t={t}
      path="/admin/v1/reports/friends"
      query={range}
      chart={(data) => ({
        type: 'bar',
        labels: data.days.map((d) => d.date),
        series: [
          { label: t('newFriends'), data: data.days.map((d) => d.new_friends) },
          { label: t('blocks'), data: data.days.map((d) => -d.blocks), color: '#e8590c' },
          { label: t('unblocks'), data: data.days.map((d) => d.unblocks), color: '#2f6fde' },
        ],
      })}
      table={(data) => ({
        columns: [
          { key: 'date', label: t('date') },
          { key: 'new_friends', label: t('newFriends'), numeric: true },
          { key: 'blocks', label: t('blocks'), numeric: true },
          { key: 'unblocks', label: t('unblocks'), numeric: true },
          { key: 'net_growth', label: t('netGrowth'), numeric: true },
          { key: 'friends_end', label: t('friendsEnd'), numeric: true },
          { key: 'block_rate', label: t('blockRate'), value: (d) => d.block_rate, render: (d) => formatPercent(d.block_rate, lang, 2) },
        ],
        rows: data.days,
      })}
      kpis={(data) => [
        <Kpi key="n" label={t('newFriends')} value={formatNumber(data.totals.new_friends, lang)} testid="reports-friends-new" />,
        <Kpi key="b" label={t('blocks')} value={formatNumber(data.totals.blocks, lang)} testid="reports-friends-blocks" />,
        <Kpi key="g" label={t('netGrowth')} value={formatNumber(data.totals.net_growth, lang)} testid="reports-friends-net" />,
        <Kpi key="r" label={t('blockRate')} value={formatPercent(data.totals.block_rate, lang, 2)} testid="reports-friends-block-rate" />,
      ]}
    />
  );
}

function Groups({ t }) {
  const { lang } = useApp();
  const rows = (data) => [
    ...Object.entries(data.channel_groups).map(([group, f]) => ({ kind: t('channelGroup'), group, ...f })),
    ...Object.entries(data.rfm_groups).map(([group, f]) => ({ kind: t('rfmGroup'), group, ...f })),
  ];
  return (
    <Report
      id="groups"
      t={t}
      path="/admin/v1/reports/customer-groups"
      query={{}}
      chart={(data) => ({
        type: 'bar',
        labels: Object.keys(data.channel_groups),
        series: [{ label: t('people'), data: Object.values(data.channel_groups).map((f) => f.people) }],
      })}
      table={(data) => ({
        columns: [
          { key: 'kind', label: t('kind') },
          { key: 'group', label: t('group') },
          { key: 'people', label: t('people'), numeric: true },
          { key: 'orders', label: t('orders'), numeric: true },
          { key: 'revenue', label: t('revenue'), value: (r) => r.revenue, render: (r) => formatMoney(r.revenue, lang) },
          { key: 'revenue_per_person', label: t('revenuePerPerson'), value: (r) => r.revenue_per_person, render: (r) => formatMoney(r.revenue_per_person, lang) },
        ],
        rows: rows(data),
      })}
    />
  );
}

function Health({ t }) {
  const { lang } = useApp();
  return (
    <Report
      id="health"
      t={t}
      path="/admin/v1/reports/data-health"
      query={{}}
      chart={(data) => ({
        type: 'bar',
        labels: Object.keys(data.identifiers),
        series: [
          { label: t('present'), data: Object.values(data.identifiers).map((c) => c.present) },
          { label: t('missing'), data: Object.values(data.identifiers).map((c) => c.missing), color: '#e8590c' },
        ],
        stacked: true,
      })}
      table={(data) => ({
        columns: [
          { key: 'identifier', label: t('identifier') },
          { key: 'present', label: t('present'), numeric: true },
          { key: 'missing', label: t('missing'), numeric: true },
          { key: 'missing_rate', label: t('missingRate'), value: (r) => r.missing_rate, render: (r) => formatPercent(r.missing_rate, lang) },
        ],
        rows: Object.entries(data.identifiers).map(([identifier, c]) => ({ identifier, ...c })),
      })}
      kpis={(data) => [
        <Kpi key="p" label={t('profiles')} value={formatNumber(data.profiles, lang)} testid="reports-health-profiles" />,
        <Kpi key="f" label={t('friendsTagged')} value={`${formatNumber(data.tag_coverage.tagged, lang)} / ${formatNumber(data.tag_coverage.friends, lang)}`} testid="reports-health-tagged" />,
        <Kpi key="c" label={t('tagCoverage')} value={formatPercent(data.tag_coverage.rate, lang)} testid="reports-health-coverage" />,
      ]}
    />
  );
}

const VIEWS = { trend: Trend, funnel: Funnel, retention: Retention, distribution: Distribution, friends: Friends, groups: Groups, health: Health };

export default function ReportsPage({ route, t }) {
  const { navigate } = useApp();
  const tab = TABS.includes(route.params[0]) ? route.params[0] : 'trend';
  const [from, setFrom] = useState(route.query.from || localDate(-29));
  const [to, setTo] = useState(route.query.to || localDate(0));
  const range = { from, to, tz: TZ };
  const View = VIEWS[tab];
  const dated = !['groups', 'health'].includes(tab);
  return (
    <div>
      <h1>{t('title')}</h1>
      <nav class="toolbar" data-testid="reports-tabs">
        {TABS.map((id) => (
          <button type="button" key={id} class={id === tab ? 'primary' : ''} aria-pressed={id === tab} data-testid={`reports-tab-${id}`} onClick={() => navigate('reports', [id], route.query)}>
            {t(id)}
          </button>
        ))}
      </nav>
      {dated && (
        <div class="toolbar">
          <label>
            {t('from')}
            <input type="date" value={from} max={to} onChange={(e) => e.currentTarget.value && setFrom(e.currentTarget.value)} data-testid="reports-from" />
          </label>
          <label>
            {t('to')}
            <input type="date" value={to} min={from} onChange={(e) => e.currentTarget.value && setTo(e.currentTarget.value)} data-testid="reports-to" />
          </label>
        </div>
      )}
      <View t={t} range={range} key={tab} />
    </div>
  );
}
