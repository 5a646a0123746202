import { useEffect, useErrorBoundary, useMemo, useState } from 'preact/hooks';
import { createApi } from './api.js';
import { LANGUAGES, makeT, saveLanguage } from './i18n.js';
import { pageLoader, parseRoute, roleAllows, routeHref, visiblePages } from './registry.js';
import { clearToken, getToken, hostedSignInUrl, setToken } from './session.js';
import { AppContext, ErrorMessage, Loading } from './components/ui.jsx';

const STRINGS = {
  en: {
    product: 'LINE CDP',
    signInTitle: 'Sign in to the console',
    tokenLabel: 'Admin or service token',
    tokenHint: 'Kept only in this browser tab until you close it or sign out.',
    signIn: 'Sign in',
    signInUser: 'Sign in with your account',
    orToken: 'or with a token',
    roles: { viewer: 'Viewer', marketer: 'Marketer', admin: 'Administrator' },
    signingIn: 'Signing in…',
    signOut: 'Sign out',
    language: 'Language',
    notAvailable: 'This page is not available yet.',
    notFound: 'There is no such page.',
    pageFailed: 'This page could not be loaded. Reload the console and try again.',
  },
  'zh-TW': {
    product: 'LINE CDP',
    signInTitle: '登入管理主控台',
    tokenLabel: '管理或服務權杖',
    tokenHint: '只保存在這個瀏覽器分頁中，關閉分頁或登出即清除。',
    signIn: '登入',
    signInUser: '以帳號登入',
    orToken: '或使用權杖',
    roles: { viewer: '檢視者', marketer: '行銷人員', admin: '管理員' },
    signingIn: '登入中…',
    signOut: '登出',
    language: '語言',
    notAvailable: '此頁面尚未開放。',
    notFound: '沒有這個頁面。',
    pageFailed: '頁面載入失敗，請重新整理後再試。',
  },
};
const LANGUAGE_NAMES = { 'zh-TW': '繁體中文', en: 'English' };

function useHashRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return parseRoute(hash);
}

function SignIn({ lang, onSignedIn, api, reason, signInWith }) {
  const t = makeT(STRINGS, lang);
  const [token, setTokenValue] = useState('');
  const [error, setError] = useState(reason || null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Who the token belongs to (any role may ask) checks it before it is kept.
      await api.withToken(token.trim()).get('/admin/v1/me');
      onSignedIn(token.trim());
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="signin card" onSubmit={submit} data-testid="signin-form">
      <h1>{t('signInTitle')}</h1>
      {signInWith && (
        <>
          <button type="button" class="primary" onClick={() => location.assign(hostedSignInUrl(signInWith, location.origin + location.pathname))} data-testid="signin-user">
            {t('signInUser')}
          </button>
          <p class="hint">{t('orToken')}</p>
        </>
      )}
      <label>
        {t('tokenLabel')}
        <input type="password" autocomplete="off" required value={token} onInput={(e) => setTokenValue(e.currentTarget.value)} data-testid="signin-token" />
      </label>
      <p class="hint">{t('tokenHint')}</p>
      {error && <ErrorMessage error={error} testid="signin-error" />}
      <button type="submit" class="primary" disabled={busy || !token.trim()} data-testid="signin-submit">
        {busy ? t('signingIn') : t('signIn')}
      </button>
    </form>
  );
}

// A page that fails while drawing shows a message instead of a blank screen.
function Guarded({ children, lang }) {
  const [error, reset] = useErrorBoundary((e) => console.error(e));
  if (error) {
    return (
      <div class="error" data-testid="page-render-error">
        {makeT(STRINGS, lang)('pageFailed')}
      </div>
    );
  }
  return children;
}

function PageHost({ route, lang }) {
  const [loaded, setLoaded] = useState({ id: null, module: null, error: null });
  const loader = route.page ? pageLoader(route.page) : null;
  useEffect(() => {
    if (!loader) return;
    let live = true;
    loader().then(
      (module) => live && setLoaded({ id: route.page, module, error: null }),
      (error) => live && setLoaded({ id: route.page, module: null, error }),
    );
    return () => {
      live = false;
    };
  }, [route.page]);
  const t = makeT(STRINGS, lang);
  if (!route.page) return <div class="empty" data-testid="page-not-found">{t('notFound')}</div>;
  if (!loader) return <div class="empty" data-testid="page-not-available">{t('notAvailable')}</div>;
  if (loaded.id !== route.page) return <Loading />;
  if (loaded.error) return <div class="error" data-testid="page-load-error">{t('pageFailed')}</div>;
  const Page = loaded.module.default;
  return (
    <Guarded lang={lang} key={route.path}>
      <Page route={route} t={makeT(loaded.module.strings, lang)} />
    </Guarded>
  );
}

export function App({ config, initialLang }) {
  const [lang, setLang] = useState(initialLang);
  const [token, setTokenState] = useState(getToken());
  const [signOutReason, setSignOutReason] = useState(null);
  const [me, setMe] = useState(null);
  const route = useHashRoute();
  const t = makeT(STRINGS, lang);

  const signOut = (reason = null) => {
    clearToken();
    setTokenState('');
    setSignOutReason(reason);
  };
  const api = useMemo(() => {
    const make = (readToken) => createApi({ apiBase: config.apiBase, getToken: readToken, onUnauthorized: (error) => readToken === getToken && signOut(error) });
    const client = make(getToken);
    client.withToken = (value) => make(() => value);
    return client;
  }, [config.apiBase]);

  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  // Who is signed in and their role (shown in the nav; pages may hide what the role cannot do).
  useEffect(() => {
    setMe(null);
    if (!token) return;
    let live = true;
    api.get('/admin/v1/me').then(
      (answer) => live && setMe(answer),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [token]);

  const changeLanguage = (value) => {
    setLang(value);
    saveLanguage(value);
  };
  const languagePicker = (
    <label class="lang">
      <span class="sr-only">{t('language')}</span>
      <select value={lang} onChange={(e) => changeLanguage(e.currentTarget.value)} data-testid="language-select">
        {LANGUAGES.map((code) => (
          <option value={code} key={code}>
            {LANGUAGE_NAMES[code]}
          </option>
        ))}
      </select>
    </label>
  );
  const navigate = (page, params, query) => {
    location.hash = routeHref(page, params, query);
  };
  const can = (needed) => roleAllows(me?.role, needed);
  const context = { api, lang, navigate, route, signOut, me, can };

  if (!token) {
    return (
      <AppContext.Provider value={context}>
        <div class="signin-page">
          <div class="signin-top">{languagePicker}</div>
          <SignIn
            lang={lang}
            api={api}
            reason={signOutReason}
            signInWith={config.signIn}
            onSignedIn={(value) => {
              setToken(value);
              setTokenState(value);
              setSignOutReason(null);
            }}
          />
        </div>
      </AppContext.Provider>
    );
  }
  return (
    <AppContext.Provider value={context}>
      <div class="shell">
        <aside class="nav">
          <div class="brand">{t('product')}</div>
          <nav data-testid="nav">
            {visiblePages(me?.role).map((page) => (
              <a
                key={page.id}
                href={routeHref(page.id)}
                class={route.page === page.id ? 'active' : ''}
                data-testid={`nav-${page.id}`}
                aria-current={route.page === page.id ? 'page' : undefined}
              >
                {page.title[lang] || page.title.en}
              </a>
            ))}
          </nav>
          <div class="nav-foot">
            {me && (
              <div class="signed-in" data-testid="signed-in-as" title={me.subject}>
                {me.name || me.subject} · <span data-testid="signed-in-role">{t('roles')[me.role] || me.role}</span>
              </div>
            )}
            {languagePicker}
            <button type="button" class="link" onClick={() => signOut()} data-testid="signout">
              {t('signOut')}
            </button>
          </div>
        </aside>
        <main class="page" data-testid={`page-${route.page || 'unknown'}`} key={route.page}>
          <PageHost route={route} lang={lang} />
        </main>
      </div>
    </AppContext.Provider>
  );
}
