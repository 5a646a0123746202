import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './api.js';
import { describeError } from './errors.js';
import { hostedSignInUrl, takeSignInAnswer } from './session.js';

function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key),
  };
}

describe('signing in with a user account', () => {
  beforeEach(() => {
    globalThis.sessionStorage = memoryStorage();
  });

  const signIn = { url: 'https://line-cdp-1-ap-northeast-1.auth.ap-northeast-1.amazoncognito.com', clientId: 'client-1' };

  it('sends the browser to the hosted sign-in with the client, the implicit grant and a state', () => {
    const url = new URL(hostedSignInUrl(signIn, 'https://console.example/', () => 'state-1'));
    expect(url.origin + url.pathname).toBe(`${signIn.url}/oauth2/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: 'client-1',
      response_type: 'token',
      scope: 'openid email',
      redirect_uri: 'https://console.example/',
      state: 'state-1',
    });
  });

  it('keeps the ID token only when the answer carries this tab state, once', () => {
    hostedSignInUrl(signIn, 'https://console.example/', () => 'state-1');
    expect(takeSignInAnswer('#id_token=eyJ.a.b&token_type=Bearer&state=other')).toBeNull();
    hostedSignInUrl(signIn, 'https://console.example/', () => 'state-2');
    expect(takeSignInAnswer('#id_token=eyJ.a.b&token_type=Bearer&state=state-2')).toBe('eyJ.a.b');
    expect(takeSignInAnswer('#id_token=eyJ.a.b&token_type=Bearer&state=state-2')).toBeNull(); // the state is used up
    expect(takeSignInAnswer('#/segments')).toBeNull();
  });

  it('reads the sign-in from config.json, and none when it is absent or incomplete', async () => {
    const config = (body) => loadConfig(async () => ({ ok: true, json: async () => body }));
    expect(await config({ apiBase: '', signIn: { url: `${signIn.url}/`, clientId: 'client-1' } })).toEqual({ apiBase: '', signIn });
    expect((await config({ apiBase: '' })).signIn).toBeNull();
    expect((await config({ apiBase: '', signIn: { url: signIn.url } })).signIn).toBeNull();
  });

  it('says which role a refused action needs', () => {
    const error = { status: 403, code: 'forbidden', details: { required_role: 'marketer', role: 'viewer' } };
    expect(describeError(error, 'en')).toBe('Your role (viewer) cannot do this; it needs the marketer role.');
  });
});
