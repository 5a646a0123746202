import { describe, expect, it } from 'vitest';
import { ApiError, buildUrl, createApi, toCsv } from './api.js';
import { describeError } from './errors.js';

function reply(status, body) {
  return { status, ok: status >= 200 && status < 300, json: async () => body, text: async () => (body === undefined ? '' : JSON.stringify(body)) };
}

function fakeFetch(answers) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    return next;
  };
  return { calls, fetchImpl };
}

describe('api client', () => {
  it('sends the bearer token to the configured base', async () => {
    const { calls, fetchImpl } = fakeFetch([reply(200, { segments: [] })]);
    const api = createApi({ apiBase: 'https://api.example.com/prod', getToken: () => 't0k', fetchImpl });
    expect(await api.get('/admin/v1/segments', { status: 'active', tag: ['a', 'b'] })).toEqual({ segments: [] });
    expect(calls[0].url).toBe('https://api.example.com/prod/admin/v1/segments?status=active&tag=a&tag=b');
    expect(calls[0].init.headers.Authorization).toBe('Bearer t0k');
  });

  it('follows a 202 job to its result', async () => {
    const job = { job_id: 'j1', status: 'running', status_url: '/admin/v1/jobs/j1' };
    const { calls, fetchImpl } = fakeFetch([reply(202, job), reply(200, job), reply(200, { ...job, status: 'done', result: { count: 7 } })]);
    const api = createApi({ getToken: () => 't', fetchImpl, sleep: async () => {} });
    expect(await api.post('/admin/v1/segments/preview', { rule: {} })).toEqual({ count: 7 });
    expect(calls.map((c) => c.url)).toEqual(['/admin/v1/segments/preview', '/admin/v1/jobs/j1', '/admin/v1/jobs/j1']);
  });

  it('turns a failed job into its error', async () => {
    const job = { job_id: 'j2', status: 'failed', error: { error: 'query_failed', message: 'boom', status: 500 } };
    const { fetchImpl } = fakeFetch([reply(202, job)]);
    const api = createApi({ getToken: () => 't', fetchImpl, sleep: async () => {} });
    await expect(api.get('/admin/v1/reports/data-health')).rejects.toMatchObject({ code: 'query_failed', status: 500 });
  });

  it('signs out on 401 and keeps the stable code', async () => {
    const { fetchImpl } = fakeFetch([reply(401, { error: 'invalid_admin_token', message: 'a valid admin Bearer token is required' })]);
    let signedOut = null;
    const api = createApi({ getToken: () => 'bad', fetchImpl, onUnauthorized: (e) => (signedOut = e) });
    await expect(api.get('/admin/v1/segments')).rejects.toBeInstanceOf(ApiError);
    expect(signedOut.code).toBe('invalid_admin_token');
  });

  it('names a network failure and an unknown route', async () => {
    const { fetchImpl } = fakeFetch([new TypeError('Failed to fetch'), reply(403, { message: 'Missing Authentication Token' })]);
    const api = createApi({ getToken: () => 't', fetchImpl });
    await expect(api.get('/x')).rejects.toMatchObject({ code: 'network_error', status: 0 });
    await expect(api.get('/admin/v1/reports/overview')).rejects.toMatchObject({ code: 'route_not_found' });
  });
});

describe('error words', () => {
  it('speaks both languages for a known code', () => {
    const error = new ApiError(404, 'profile_not_found', 'no profile P1');
    expect(describeError(error, 'en')).toMatch(/could not be found/);
    expect(describeError(error, 'zh-TW')).toMatch(/找不到這位顧客/);
  });

  it('falls back on the status for an unknown code, never raw JSON', () => {
    expect(describeError(new ApiError(503, 'something_new', 'x'), 'en')).toMatch(/busy/);
    expect(describeError(new ApiError(418, 'teapot', 'x'), 'zh-TW')).toBe('輸入的資料有誤。');
    expect(describeError(new ApiError(400, 'invalid_parameter', 'bad', { field: 'from' }), 'en')).toContain('from');
  });
});

describe('helpers', () => {
  it('skips empty query values', () => {
    expect(buildUrl('', '/a', { x: '', y: null, z: 0 })).toBe('/a?z=0');
  });
  it('quotes CSV cells and starts with a BOM', () => {
    const csv = toCsv([{ key: 'a', label: 'A' }, { key: 'b', label: 'B' }], [{ a: 'x,y', b: 'say "hi"' }]);
    expect(csv).toBe('\ufeffA,B\r\n"x,y","say ""hi"""\r\n');
  });
});
