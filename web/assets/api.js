// Talking to memscoped: the token (kept in sessionStorage, never left in the address bar), and one fetch
// wrapper that turns every failure into a message a person can act on.

const TOKEN_KEY = 'memscope.token';

// Moves ?token= from the URL into sessionStorage and removes it from the address bar (and so from the history
// and from anything that might be shared or bookmarked). Called once, before anything else.
export function adoptTokenFromUrl() {
  const url = new URL(location.href);
  if (!url.searchParams.has('token')) return;
  const t = url.searchParams.get('token');
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

const HINTS = {
  400: 'bad request',
  401: 'not authorized: the token is missing or wrong. Open the URL memscoped printed (with ?token=); ' +
       'a restarted memscoped has a new token',
  404: 'not found',
  409: 'the app is disconnected',
  413: 'request too large',
  429: 'too many collections requested: wait a moment (memscoped --gc-rate)',
  500: 'memscoped failed',
  502: 'the app refused the request',
  503: 'memscoped is busy or shutting down',
  504: 'the app did not answer in time',
};

// A failed call: status 0 means memscoped could not be reached at all.
export class ApiError extends Error {
  constructor(status, detail) {
    const hint = status === 0 ? 'memscoped is not reachable (is it running? it may be restarting)'
                              : HINTS[status] || 'request failed';
    super(detail && detail !== hint ? `${hint}: ${detail}` : hint);
    this.status = status;
    this.detail = detail;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// GET or POST a JSON endpoint. Resolves to the parsed body; rejects with an ApiError.
export async function call(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  const t = token();
  if (method !== 'GET' && t) headers['Authorization'] = 'Bearer ' + t;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, e.message);
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON: keep null */ }
  if (!res.ok) {
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, data && typeof data.error === 'string' ? data.error : res.statusText);
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body ?? {});
