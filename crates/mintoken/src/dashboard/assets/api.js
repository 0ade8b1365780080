// The JSON API client and the session. The session (access + refresh token) lives in
// sessionStorage, so it belongs to this tab and ends with it. Refresh tokens are single
// use (the server revokes a session whose spent token comes back), so all refreshes go
// through one shared promise: concurrent 401s never spend the same token twice.

const STORAGE_KEY = 'mintoken.session';
// Refresh this long before the access token expires.
const REFRESH_MARGIN_MS = 60_000;

let refreshing = null;
let refreshTimer = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

/** The stored session, or null: {access_token, refresh_token, expires_at, email}. */
export function session() {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

/** Called with the new session (or null) whenever it changes. */
export function onSessionChange(fn) {
  listeners.add(fn);
}

function setSession(value) {
  if (value) {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(value));
  } else {
    sessionStorage.removeItem(STORAGE_KEY);
  }
  scheduleRefresh(value);
  for (const fn of listeners) fn(value);
}

/** Keeps the parts of a Supabase-shaped session answer the dashboard needs. */
function fromAnswer(answer) {
  const expiresAt = Number(answer.expires_at) || Math.floor(Date.now() / 1000) + Number(answer.expires_in || 3600);
  return {
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    expires_at: expiresAt,
    email: answer.user && answer.user.email,
  };
}

function scheduleRefresh(value) {
  clearTimeout(refreshTimer);
  refreshTimer = null;
  if (!value) return;
  const wait = Math.max(value.expires_at * 1000 - Date.now() - REFRESH_MARGIN_MS, 5_000);
  // setTimeout misbehaves beyond 2^31 ms; a long-lived token is refreshed on its first 401.
  if (wait < 2 ** 31 - 1) {
    refreshTimer = setTimeout(() => { refreshSession().catch(() => {}); }, wait);
  }
}

/** Starts the refresh timer for a session restored from storage (page reload). */
export function resumeSession() {
  scheduleRefresh(session());
}

/** Spends the refresh token once; concurrent callers share the same attempt. */
export function refreshSession() {
  if (!refreshing) {
    refreshing = (async () => {
      const current = session();
      if (!current || !current.refresh_token) throw new ApiError(401, 'Your session has ended; log in again.');
      try {
        const answer = await send('POST', '/v1/auth/refresh', { refresh_token: current.refresh_token });
        setSession(fromAnswer(answer));
      } catch (e) {
        // Only a refusal ends the session; a network hiccup leaves it for the next try.
        if (e instanceof ApiError && (e.status === 401 || e.status === 400 || e.status === 422)) setSession(null);
        throw e;
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function send(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'Cannot reach the mintoken server. Check your connection and try again.');
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const detail = (data && typeof data.detail === 'string' && data.detail)
      || `The server answered ${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, detail, data);
  }
  return data;
}

/**
 * A call with the session's access token. On a 401 the session is refreshed once and
 * the call retried; if that fails the session is cleared (the app goes to the log-in page).
 */
export async function api(method, path, body) {
  const current = session();
  if (!current) throw new ApiError(401, 'You are not logged in.');
  try {
    return await send(method, path, body, current.access_token);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    try {
      await refreshSession();
    } catch (refreshError) {
      // The server could not be reached: keep the session for the next try.
      if (refreshError instanceof ApiError && refreshError.status === 0) throw refreshError;
      setSession(null);
      throw new ApiError(401, 'Your session has ended; log in again.');
    }
    return send(method, path, body, session().access_token);
  }
}

/** A call without the session: public routes, or another credential (the playground's key). */
export function publicApi(method, path, body, token) {
  return send(method, path, body, token);
}

export async function logIn(email, password) {
  setSession(fromAnswer(await send('POST', '/v1/auth/login', { email, password })));
}

export async function signUp(email, password) {
  setSession(fromAnswer(await send('POST', '/v1/auth/signup', { email, password })));
}

/** Revokes the session on the server (best effort) and forgets it here. */
export async function logOut() {
  if (session()) {
    // Through api(): an expired access token is refreshed first, so the server still
    // revokes the session rather than answering 401.
    try { await api('POST', '/v1/auth/logout'); } catch { /* forget it anyway */ }
  }
  setSession(null);
}
