// The api client: same-origin fetch with the session cookie, the CSRF header
// on writes, errors turned into ApiError with the api's own message, and a
// hook that sends the user back to sign-in on any 401.

let csrfToken = null;
let onUnauthorized = () => {};

/** A failed request: HTTP status, the api's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** Remembers the CSRF token of the session (memory only). */
export function setCsrfToken(token) {
  csrfToken = token || null;
}

/** Called with no argument when a request answers 401 (the session ended). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

async function request(method, path, body, { quiet401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The api could not be reached. Check your connection.');
  }
  let data = null;
  const text = response.status === 204 ? '' : await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const code = data?.error?.code || `http_${response.status}`;
    const message = data?.error?.message || `${response.status} ${response.statusText}`.trim();
    if (response.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(response.status, code, message, data);
  }
  return { status: response.status, data };
}

/** Builds `path?query` from an object, leaving out empty values. */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, value);
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts).then((r) => r.data),
  post: (path, body, opts) => request('POST', path, body ?? {}, opts),
  patch: (path, body, opts) => request('PATCH', path, body, opts),
  delete: (path, opts) => request('DELETE', path, undefined, opts),
};

/**
 * Follows a 202 answer of approve, reject or exec: polls its `poll` URL until
 * the request is no longer PENDING; resolves with the final request.
 */
export async function settle(answer, { intervalMs = 700, timeoutMs = 120000 } = {}) {
  if (answer.status !== 202 || !answer.data?.poll) return answer;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    const requestState = await api.get(answer.data.poll);
    if (requestState.status === 'FAILED') {
      throw new ApiError(409, 'conflict', requestState.error || 'the worker could not carry out the request');
    }
    if (requestState.status !== 'PENDING') return { status: 200, data: requestState.result ?? requestState };
    if (Date.now() > deadline) throw new ApiError(0, 'timeout', 'The worker has not answered yet; check again later.');
  }
}
