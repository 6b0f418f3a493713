// Who is signed in and what their role allows. The session itself is the
// HttpOnly cookie; this module keeps only what GET /v1/session said.

import { api, setCsrfToken } from './api.js';

const RANK = { viewer: 0, runner: 1, reviewer: 2, admin: 3 };

/** The least role each action needs (mirrors the api's role table). */
const NEEDS = {
  submit: 'runner',
  cancel: 'runner',
  retry: 'runner',
  message: 'runner',
  approve: 'reviewer',
  reject: 'reviewer',
  exec: 'admin',
  manageProjects: 'admin',
};

let current = null;

/** The session JSON, or null when signed out. */
export function session() {
  return current;
}

function adopt(data) {
  current = data;
  setCsrfToken(data?.csrf_token);
  return data;
}

/** Reads the live session; null when there is none (401). */
export async function load() {
  try {
    return adopt(await api.get('/v1/session', { quiet401: true }));
  } catch (err) {
    if (err.status === 401) return adopt(null);
    throw err;
  }
}

/** Exchanges an api token for a session cookie. Throws ApiError. */
export async function signIn(token) {
  const { data } = await api.post('/v1/session', { token }, { quiet401: true });
  return adopt(data);
}

/** Ends the session on the server and forgets it here. */
export async function signOut() {
  try {
    await api.delete('/v1/session', { quiet401: true });
  } finally {
    adopt(null);
  }
}

/** Forgets the session without asking the server (it already said 401). */
export function forget() {
  adopt(null);
}

/** Whether the signed-in role may take `action` (a key of NEEDS). */
export function can(action) {
  if (!current) return false;
  const needed = NEEDS[action];
  return needed !== undefined && (RANK[current.role] ?? -1) >= RANK[needed];
}
