import { useEffect, useRef } from 'preact/hooks';
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart as ChartJs,
  DoughnutController,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

// Only what the console draws (tree-shaken Chart.js: line, bar, doughnut).
ChartJs.register(
  LineController, BarController, DoughnutController, CategoryScale, LinearScale,
  PointElement, LineElement, BarElement, ArcElement, Tooltip, Legend, Filler,
);

export const PALETTE = ['#06c755', '#2f6fde', '#f59f00', '#e8590c', '#7048e8', '#0ca678', '#d6336c', '#868e96'];

/**
 * A chart: <Chart testid="dashboard-friends-chart" type="line" labels={[...]}
 *   series={[{label, data: [numbers]}]} stacked? percent? height? />.
 * The wrapper carries data-testid, data-points (how many values it drew) and data-rendered once
 * drawn, so a browser test can tell a chart with data from an empty canvas.
 */
export function Chart({ testid, type = 'line', labels = [], series = [], stacked = false, percent = false, height = 240, title }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  const points = series.reduce((n, s) => n + (s.data || []).filter((v) => v !== null && v !== undefined).length, 0);

  useEffect(() => {
    const datasets = series.map((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      return {
        label: s.label,
        data: s.data,
        borderColor: type === 'doughnut' ? '#fff' : color,
        backgroundColor: type === 'doughnut' ? s.data.map((_, j) => PALETTE[j % PALETTE.length]) : type === 'bar' ? color : `${color}33`,
        fill: type === 'line' && stacked,
        tension: 0.25,
        pointRadius: labels.length > 60 ? 0 : 2,
        borderWidth: type === 'bar' ? 0 : 2,
      };
    });
    const ticks = percent ? { callback: (v) => `${Math.round(v * 1000) / 10}%` } : {};
    const options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false, // draws at once: faster first paint, and tests read a finished chart
      interaction: { mode: 'index', intersect: false },
      plugins: {
        legend: { display: series.length > 1 || type === 'doughnut', position: 'bottom' },
        title: title ? { display: true, text: title } : { display: false },
      },
      scales:
        type === 'doughnut'
          ? {}
          : { x: { stacked, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } }, y: { stacked, beginAtZero: true, ticks } },
    };
    if (chart.current) {
      chart.current.data.labels = labels;
      chart.current.data.datasets = datasets;
      chart.current.options = options;
      chart.current.config.type = type;
      chart.current.update();
    } else {
      chart.current = new ChartJs(canvas.current, { type, data: { labels, datasets }, options });
    }
  }, [type, JSON.stringify(labels), JSON.stringify(series), stacked, percent, title]);

  useEffect(() => () => chart.current?.destroy(), []);

  return (
    <div class="chart" style={{ height: `${height}px` }} data-testid={testid} data-points={points} data-rendered={points > 0 ? 'true' : 'false'}>
      <canvas ref={canvas} />
    </div>
  );
}
