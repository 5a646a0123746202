import { Async, Card, Kpi, Table, useApiData, useApp } from '../components/ui.jsx';
import { formatDateTime, formatNumber, formatPercent } from '../i18n.js';

// Journeys: the list, and per journey its graph (the live version, else the draft) with each
// node's figures from GET /admin/v1/journeys/{id}/report.
export const strings = {
  en: {
    title: 'Journeys',
    list: 'Journeys',
    name: 'Name',
    status: 'Status',
    live: 'Live version',
    versions: 'Versions',
    updated: 'Updated',
    none: 'No journeys yet. Journeys are created through the admin API.',
    back: 'All journeys',
    graph: 'Journey map',
    draftShown: 'Not published yet: the draft is shown.',
    versionShown: 'Version {v}',
    entered: 'in {n}',
    waiting: 'now {n}',
    sent: 'sent {n}',
    runs: 'Runs',
    active: 'Active now',
    sentTotal: 'Messages sent',
    ctr: 'Click-through rate',
    converted: 'Converted',
    conversionRate: 'Conversion rate',
    node: 'Node',
    type: 'Type',
    enteredCol: 'Entered',
    waitingCol: 'Waiting now',
    sentCol: 'Sent',
    clickedCol: 'Clicked',
    exitedCol: 'Ended here',
  },
  'zh-TW': {
    title: '顧客旅程',
    list: '旅程列表',
    name: '名稱',
    status: '狀態',
    live: '上線版本',
    versions: '版本',
    updated: '更新時間',
    none: '尚無旅程。旅程可透過管理 API 建立。',
    back: '所有旅程',
    graph: '旅程圖',
    draftShown: '尚未發布：顯示草稿。',
    versionShown: '版本 {v}',
    entered: '進入 {n}',
    waiting: '停留 {n}',
    sent: '發送 {n}',
    runs: '參與次數',
    active: '進行中',
    sentTotal: '已發送訊息',
    ctr: '點擊率',
    converted: '已轉換',
    conversionRate: '轉換率',
    node: '節點',
    type: '類型',
    enteredCol: '進入',
    waitingCol: '目前停留',
    sentCol: '已發送',
    clickedCol: '已點擊',
    exitedCol: '在此結束',
  },
};

const BOX_W = 190;
const BOX_H = 78;
const GAP_X = 70;
const GAP_Y = 28;

// The ways out of a node, as the journey definition has them (cdp.journeys.definition.successors):
// `received` / `timed_out` of a wait, each branch's `next` (labelled with its name) and `else` of a
// split, `next` of the others.
export function edgesOf(node, ids) {
  const edges = [];
  const add = (to, label) => typeof to === 'string' && ids.has(to) && edges.push({ to, label });
  if (!node || typeof node !== 'object') return edges;
  add(node.received, 'received');
  add(node.timed_out, 'timed_out');
  for (const branch of Array.isArray(node.branches) ? node.branches : []) add(branch?.next, branch?.name || '');
  add(node.else, 'else');
  add(node.next, '');
  return edges;
}

// Columns by the longest path from the start (so a node comes after every node leading to it;
// a loop stops growing after as many steps as there are nodes); nodes never reached go last.
export function layout(definition) {
  const ids = new Set(Object.keys(definition.nodes || {}));
  const depth = new Map();
  const links = [...ids].flatMap((id) => edgesOf(definition.nodes[id], ids).map((edge) => [id, edge.to]));
  if (definition.start && ids.has(definition.start)) depth.set(definition.start, 0);
  for (let round = 0, changed = true; changed && round < ids.size; round++) {
    changed = false;
    for (const [from, to] of links) {
      if (!depth.has(from) || to === definition.start) continue;
      const next = depth.get(from) + 1;
      if (next < ids.size && (!depth.has(to) || depth.get(to) < next)) {
        depth.set(to, next);
        changed = true;
      }
    }
  }
  const last = Math.max(-1, ...depth.values()) + 1;
  for (const id of ids) if (!depth.has(id)) depth.set(id, last);
  const columns = [];
  for (const [id, d] of depth) (columns[d] ||= []).push(id);
  const position = {};
  columns.forEach((column, d) => column.forEach((id, i) => (position[id] = { x: 10 + d * (BOX_W + GAP_X), y: 70 + i * (BOX_H + GAP_Y) })));
  const edges = [...ids].flatMap((id) => edgesOf(definition.nodes[id], ids).map((edge) => ({ from: id, ...edge })));
  const width = 20 + columns.length * (BOX_W + GAP_X);
  const height = 80 + Math.max(1, ...columns.filter(Boolean).map((c) => c.length)) * (BOX_H + GAP_Y);
  return { position, edges, width, height };
}

function Graph({ definition, report, t }) {
  const { lang } = useApp();
  const { position, edges, width, height } = layout(definition);
  const figures = report?.nodes || {};
  return (
    <div style={{ overflowX: 'auto' }}>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} data-testid="journeys-graph" role="img" aria-label={definition.name}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#868e96" />
          </marker>
        </defs>
        <text x="10" y="18" font-size="12" fill="#57606a">
          ▶ {definition.entry?.event || definition.entry?.segment_id || definition.entry?.type || ''}
        </text>
        {edges.map((edge, i) => {
          const a = position[edge.from];
          const b = position[edge.to];
          // A link that skips columns arcs over the boxes between, top to top; the others go side to side.
          const skips = b.x - a.x > BOX_W + GAP_X;
          const x1 = skips ? a.x + BOX_W / 2 : a.x + BOX_W;
          const y1 = skips ? a.y : a.y + BOX_H / 2;
          const x2 = skips ? b.x + BOX_W / 2 : b.x;
          const y2 = skips ? b.y : b.y + BOX_H / 2;
          const mid = (x1 + x2) / 2;
          const d = skips ? `M ${x1} ${y1} C ${x1} ${y1 - 45}, ${x2} ${y2 - 45}, ${x2} ${y2}` : `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`;
          const labelY = skips ? Math.min(y1, y2) - 36 : (y1 + y2) / 2 - 4;
          return (
            <g key={i} data-testid="journeys-edge">
              <path d={d} fill="none" stroke="#868e96" stroke-width="1.5" marker-end="url(#arrow)" />
              {edge.label && edge.label !== 'next' && (
                <text x={mid} y={labelY} font-size="11" text-anchor="middle" fill="#57606a">
                  {edge.label}
                </text>
              )}
            </g>
          );
        })}
        {Object.entries(position).map(([id, p]) => {
          const node = definition.nodes[id];
          const f = figures[id] || { entered: 0, waiting_now: 0 };
          return (
            <g key={id} transform={`translate(${p.x},${p.y})`} data-testid="journeys-node" data-node={id} data-entered={f.entered} data-waiting={f.waiting_now} data-sent={f.sent ?? ''}>
              <rect width={BOX_W} height={BOX_H} rx="8" fill={id === definition.start ? '#e6fcf5' : '#fff'} stroke={node.type === 'send' ? '#06c755' : '#adb5bd'} stroke-width="1.5" />
              <text x="10" y="20" font-size="13" font-weight="700" fill="#1f2328">
                {id}
              </text>
              <text x="10" y="37" font-size="11" fill="#57606a">
                {`${node.type}${node.template_id ? ` · ${node.template_id}` : ''}`.slice(0, 30)}
              </text>
              <text x="10" y="58" font-size="12" fill="#1f2328">
                {t('entered', { n: formatNumber(f.entered, lang) })} · {t('waiting', { n: formatNumber(f.waiting_now, lang) })}
                {f.sent !== undefined ? ` · ${t('sent', { n: formatNumber(f.sent, lang) })}` : ''}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function List({ t }) {
  const { lang } = useApp();
  const state = useApiData((api) => api.get('/admin/v1/journeys'), []);
  const columns = [
    { key: 'name', label: t('name'), render: (j) => <a href={`#/journeys/${encodeURIComponent(j.journey_id)}`} data-testid="journeys-row-link">{j.name}</a> },
    { key: 'status', label: t('status'), render: (j) => <span class="pill">{j.status}</span> },
    { key: 'live_version', label: t('live') },
    { key: 'versions', label: t('versions'), value: (j) => j.versions.length },
    { key: 'updated_at', label: t('updated'), render: (j) => formatDateTime(j.updated_at, lang) },
  ];
  return (
    <Card title={t('list')} testid="journeys-list">
      <Async state={state} testid="journeys-list">
        {(data) => <Table testid="journeys-table" columns={columns} rows={data.journeys} empty={t('none')} rowKey={(j) => j.journey_id} />}
      </Async>
    </Card>
  );
}

function Detail({ id, t }) {
  const { lang } = useApp();
  const state = useApiData(async (api) => {
    const path = `/admin/v1/journeys/${encodeURIComponent(id)}`;
    const journey = await api.get(path);
    const [version, report] = await Promise.all([
      journey.live_version ? api.get(`${path}/versions/${journey.live_version}`) : Promise.resolve(null),
      api.get(`${path}/report`),
    ]);
    return { journey, definition: version ? version.document : journey.draft, report };
  }, [id]);
  return (
    <div>
      <p>
        <a href="#/journeys" data-testid="journeys-back">
          ← {t('back')}
        </a>
      </p>
      <Async state={state} testid="journeys-detail">
        {({ journey, definition, report }) => (
          <div data-testid="journeys-detail">
            <h2>
              {journey.name} <span class="pill">{journey.status}</span>
            </h2>
            <div class="kpis">
              <Kpi label={t('runs')} value={formatNumber(report.runs.total, lang)} testid="journeys-runs" />
              <Kpi label={t('active')} value={formatNumber(report.runs.active, lang)} />
              <Kpi label={t('sentTotal')} value={formatNumber(report.sent, lang)} testid="journeys-sent" />
              <Kpi label={t('ctr')} value={formatPercent(report.ctr, lang)} />
              <Kpi label={t('converted')} value={report.converted === null ? '—' : formatNumber(report.converted, lang)} />
              <Kpi label={t('conversionRate')} value={formatPercent(report.conversion_rate, lang)} />
            </div>
            <Card title={t('graph')} testid="journeys-graph-card">
              <p class="hint">{journey.live_version ? t('versionShown', { v: journey.live_version }) : t('draftShown')}</p>
              <Graph definition={definition} report={report} t={t} />
            </Card>
            <Table
              testid="journeys-nodes-table"
              columns={[
                { key: 'node', label: t('node') },
                { key: 'type', label: t('type') },
                { key: 'entered', label: t('enteredCol'), numeric: true },
                { key: 'waiting_now', label: t('waitingCol'), numeric: true },
                { key: 'sent', label: t('sentCol'), numeric: true },
                { key: 'clicked', label: t('clickedCol'), numeric: true },
                { key: 'exited', label: t('exitedCol'), value: (r) => Object.entries(r.exited || {}).map(([k, v]) => `${k} ${v}`).join(', ') },
              ]}
              rows={Object.entries(report.nodes).map(([node, f]) => ({ node, ...f }))}
            />
          </div>
        )}
      </Async>
    </div>
  );
}

export default function JourneysPage({ route, t }) {
  const id = route.params[0];
  return (
    <div>
      <h1>{t('title')}</h1>
      {id ? <Detail id={id} t={t} key={id} /> : <List t={t} />}
    </div>
  );
}
