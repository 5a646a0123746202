// The admin token lives in sessionStorage only: it is gone when the tab closes, and it is never
// written to localStorage or a cookie.
const TOKEN_KEY = 'cdp.console.token';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage unavailable: nothing kept */
  }
}

// Signing in with a user account: the console sends the browser to the user pool's hosted
// sign-in, which comes back to this page with the ID token in the fragment (implicit grant).
// The `state` kept in the tab ties the answer to this tab's request.
const STATE_KEY = 'cdp.console.signin-state';

export function hostedSignInUrl(signIn, returnTo, random = () => crypto.getRandomValues(new Uint32Array(4)).join('-')) {
  const state = random();
  sessionStorage.setItem(STATE_KEY, state);
  const query = new URLSearchParams({
    client_id: signIn.clientId,
    response_type: 'token',
    scope: 'openid email',
    redirect_uri: returnTo,
    state,
  });
  return `${signIn.url}/oauth2/authorize?${query}`;
}

// The ID token the hosted sign-in returned in `hash`, when its state is this tab's; null otherwise.
export function takeSignInAnswer(hash) {
  if (!hash || !hash.includes('id_token=')) return null;
  const answer = new URLSearchParams(hash.replace(/^#/, ''));
  let expected = null;
  try {
    expected = sessionStorage.getItem(STATE_KEY);
    sessionStorage.removeItem(STATE_KEY);
  } catch {
    return null;
  }
  if (!expected || answer.get('state') !== expected) return null;
  return answer.get('id_token') || null;
}
