import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { createContext } from 'preact';
import { describeError } from '../errors.js';
import { formatNumber, translate } from '../i18n.js';

// What every page gets: {api, lang, navigate, route}.
export const AppContext = createContext(null);
export const useApp = () => useContext(AppContext);

const SHARED = {
  en: { loading: 'Loading…', retry: 'Try again', empty: 'Nothing to show yet.', details: 'Details', working: 'Working… {n}s' },
  'zh-TW': { loading: '載入中…', retry: '再試一次', empty: '目前沒有資料。', details: '詳細資訊', working: '處理中… {n} 秒' },
};

// Runs `load(api)` when deps change; {data, error, loading, reload}. Later answers win only if
// they belong to the latest call (a slow request does not overwrite a newer one).
export function useApiData(load, deps) {
  const { api } = useApp();
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const serial = useRef(0);
  const run = useCallback(() => {
    const mine = ++serial.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    Promise.resolve()
      .then(() => load(api))
      .then(
        (data) => mine === serial.current && setState({ data, error: null, loading: false }),
        (error) => mine === serial.current && setState({ data: null, error, loading: false }),
      );
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

export function ErrorMessage({ error, onRetry, testid = 'error-message' }) {
  const { lang } = useApp();
  if (!error) return null;
  return (
    <div class="error" role="alert" data-testid={testid} data-error-code={error.code || ''}>
      <span>{describeError(error, lang)}</span>
      {onRetry && (
        <button type="button" class="link" onClick={onRetry}>
          {translate(SHARED, lang, 'retry')}
        </button>
      )}
    </div>
  );
}

export function Loading({ testid = 'loading' }) {
  const { lang } = useApp();
  return (
    <div class="loading" data-testid={testid} aria-busy="true">
      {translate(SHARED, lang, 'loading')}
    </div>
  );
}

export function Empty({ children, testid = 'empty' }) {
  const { lang } = useApp();
  return (
    <div class="empty" data-testid={testid}>
      {children || translate(SHARED, lang, 'empty')}
    </div>
  );
}

// Loading / error / content in one: <Async state={useApiData(...)}>{(data) => ...}</Async>
export function Async({ state, children, testid }) {
  if (state.error) return <ErrorMessage error={state.error} onRetry={state.reload} testid={testid ? `${testid}-error` : undefined} />;
  if (state.loading && state.data === null) return <Loading testid={testid ? `${testid}-loading` : undefined} />;
  return children(state.data);
}

export function Kpi({ label, value, hint, testid }) {
  return (
    <div class="kpi" data-testid={testid}>
      <div class="kpi-label">{label}</div>
      <div class="kpi-value" data-testid={testid && `${testid}-value`}>
        {value}
      </div>
      {hint && <div class="kpi-hint">{hint}</div>}
    </div>
  );
}

/** columns: [{key, label, value?: row => any, render?: row => vnode, numeric?: bool}] */
export function Table({ columns, rows, testid, empty, rowKey }) {
  const { lang } = useApp();
  if (!rows || rows.length === 0) return <Empty testid={testid && `${testid}-empty`}>{empty}</Empty>;
  return (
    <div class="table-wrap">
      <table data-testid={testid}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.key} class={c.numeric ? 'num' : ''}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={rowKey ? rowKey(row) : i} data-testid={testid && `${testid}-row`}>
              {columns.map((c) => {
                const raw = c.value ? c.value(row) : row[c.key];
                const shown = c.render ? c.render(row) : c.numeric && typeof raw === 'number' ? formatNumber(raw, lang) : raw ?? '—';
                return (
                  <td key={c.key} class={c.numeric ? 'num' : ''} data-col={c.key}>
                    {shown}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Card({ title, actions, children, testid }) {
  return (
    <section class="card" data-testid={testid}>
      {(title || actions) && (
        <header class="card-head">
          {title && <h2>{title}</h2>}
          {actions && <div class="card-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

export function useDebounced(value, ms) {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}
