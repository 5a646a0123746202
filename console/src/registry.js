// Every page of the console, in nav order. A page is the module src/pages/<id>.jsx: it exports
// `strings` ({en, 'zh-TW'}) and a default component. A page whose module does not exist yet
// shows "not available"; adding the file is all it takes to fill it (no edit here). A page with a
// `role` is left out of the nav for a role below it (the API refuses its routes anyway).
export const PAGES = [
  { id: 'dashboard', title: { en: 'Dashboard', 'zh-TW': '總覽' } },
  { id: 'people', title: { en: 'People', 'zh-TW': '顧客' } },
  { id: 'segments', title: { en: 'Segments', 'zh-TW': '分眾' } },
  { id: 'reports', title: { en: 'Reports', 'zh-TW': '報表' } },
  { id: 'links', title: { en: 'Links & QR', 'zh-TW': '連結與 QR 碼' } },
  { id: 'imports', title: { en: 'Member import', 'zh-TW': '會員匯入' } },
  { id: 'campaigns', title: { en: 'Campaigns', 'zh-TW': '活動訊息' } },
  { id: 'journeys', title: { en: 'Journeys', 'zh-TW': '顧客旅程' } },
  { id: 'settings', title: { en: 'Settings', 'zh-TW': '設定' } },
  { id: 'audit', title: { en: 'Audit log', 'zh-TW': '稽核紀錄' }, role: 'admin' },
  { id: 'retention', title: { en: 'Data retention', 'zh-TW': '資料保存期限' }, role: 'admin' },
];

export const ROLE_ORDER = ['viewer', 'marketer', 'admin'];

// Whether `role` reaches `needed`; an unknown role (not read yet) is let through: the API decides.
export function roleAllows(role, needed) {
  if (!needed || !role) return true;
  return ROLE_ORDER.indexOf(role) >= ROLE_ORDER.indexOf(needed);
}

// The pages the nav shows to `role`; until the role is known, only the pages every role has.
export function visiblePages(role) {
  return PAGES.filter((page) => !page.role || (role && roleAllows(role, page.role)));
}

export const DEFAULT_PAGE = 'dashboard';

// Lazy: each page is its own chunk, loaded when first opened.
const MODULES = import.meta.glob('./pages/*.jsx');

export function pageLoader(id) {
  return MODULES[`./pages/${id}.jsx`] || null;
}

// '#/people/P1?q=x' -> {page: 'people', params: ['P1'], query: {q: 'x'}}
export function parseRoute(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, search = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const page = parts[0] && PAGES.some((p) => p.id === parts[0]) ? parts[0] : parts[0] ? null : DEFAULT_PAGE;
  return { page, params: parts.slice(1), query: Object.fromEntries(new URLSearchParams(search)), path: `/${parts.join('/')}` };
}

export function routeHref(page, params = [], query) {
  const path = [page, ...params].map(encodeURIComponent).join('/');
  const search = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString() : '';
  return `#/${path}${search ? `?${search}` : ''}`;
}
