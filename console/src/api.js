// The admin API client: the API base from /config.json (empty = same origin), the bearer
// token, 202 + job polling (GET /admin/v1/jobs/{id}), and every failure as an ApiError with the
// API's stable code. A 401 calls onUnauthorized (the app goes back to sign-in).

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export async function loadConfig(fetchImpl = fetch) {
  try {
    const response = await fetchImpl('config.json', { cache: 'no-store' });
    if (!response.ok) return { apiBase: '' };
    const config = await response.json();
    const signIn = config.signIn && config.signIn.url && config.signIn.clientId ? config.signIn : null;
    return {
      apiBase: String(config.apiBase || '').replace(/\/+$/, ''),
      // The user pool's hosted sign-in (Cognito; the local stack's stand-in), when there is one.
      signIn: signIn && { url: String(signIn.url).replace(/\/+$/, ''), clientId: String(signIn.clientId) },
    };
  } catch {
    return { apiBase: '' }; // no config: the API is on the same origin
  }
}

export function buildUrl(base, path, query) {
  let url = `${base}${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined || value === null || value === '') continue;
      for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
    }
    const text = params.toString();
    if (text) url += `${url.includes('?') ? '&' : '?'}${text}`;
  }
  return url;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON (a gateway page): the status says enough */
  }
  if (body && typeof body.error === 'string') return new ApiError(response.status, body.error, body.message, body.details);
  if (response.status === 403 && body && body.message === 'Missing Authentication Token') {
    return new ApiError(403, 'route_not_found', body.message); // API Gateway's answer for an unknown route
  }
  return new ApiError(response.status, null, body?.message, null);
}

export function createApi({
  apiBase = '',
  getToken,
  onUnauthorized = () => {},
  fetchImpl = (...args) => fetch(...args),
  sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  pollIntervalMs = 800,
  maxWaitMs = 10 * 60 * 1000,
} = {}) {
  async function send(method, path, { query, body, headers = {}, contentType } = {}) {
    const init = { method, headers: { Accept: 'application/json', ...headers } };
    const token = getToken?.();
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      if (contentType) {
        init.headers['Content-Type'] = contentType;
        init.body = body;
      } else {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
    }
    let response;
    try {
      response = await fetchImpl(buildUrl(apiBase, path, query), init);
    } catch (cause) {
      throw new ApiError(0, 'network_error', String(cause?.message || cause));
    }
    if (response.status === 401) {
      const error = await errorFrom(response);
      onUnauthorized(error);
      throw error;
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async function readJson(response) {
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // Waits for a query job: `running`, then `done` (its result) or `failed` (its error).
  async function waitForJob(job, onProgress) {
    const started = Date.now();
    let current = job;
    for (;;) {
      if (current.status === 'done') return current.result;
      if (current.status === 'failed') {
        const failure = current.error || {};
        throw new ApiError(failure.status || 500, failure.error || 'query_failed', failure.message, failure.details);
      }
      if (Date.now() - started > maxWaitMs) throw new ApiError(504, 'job_timeout', 'the job did not finish in time');
      onProgress?.(current);
      await sleep(pollIntervalMs);
      const url = current.status_url || `/admin/v1/jobs/${encodeURIComponent(current.job_id)}`;
      current = await readJson(await send('GET', url));
    }
  }

  // JSON in, JSON out; a 202 job is followed to its result unless options.noWait.
  async function request(method, path, options = {}) {
    const response = await send(method, path, options);
    const data = await readJson(response);
    if (response.status === 202 && data && data.job_id && data.status && !options.noWait) {
      return waitForJob(data, options.onProgress);
    }
    return data;
  }

  return {
    apiBase,
    request,
    waitForJob,
    get: (path, query, options) => request('GET', path, { ...options, query }),
    post: (path, body, options) => request('POST', path, { ...options, body }),
    put: (path, body, options) => request('PUT', path, { ...options, body }),
    del: (path, options) => request('DELETE', path, options),
    // The raw Response (a CSV, an SVG, a file download); errors as for request().
    raw: (method, path, options) => send(method, path, options),
    url: (path, query) => buildUrl(apiBase, path, query),
  };
}

// A file download from a Response (CSV export, QR code).
export async function saveResponse(response, filename) {
  const blob = await response.blob();
  downloadBlob(blob, filename);
}

export function downloadBlob(blob, filename) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// Rows to CSV (RFC 4180 quoting; a leading BOM so spreadsheet apps read UTF-8 Chinese).
export function toCsv(columns, rows) {
  const cell = (value) => {
    const text = value === null || value === undefined ? '' : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [columns.map((c) => cell(c.label ?? c.key)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(typeof c.value === 'function' ? c.value(row) : row[c.key])).join(','));
  return '\ufeff' + lines.join('\r\n') + '\r\n';
}
