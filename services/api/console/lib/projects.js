// The projects the session may see, fetched once per page visit and shared
// by the pages that show project names or offer a project to choose.

import { api } from './api.js';

let cache = null;
let pending = null;

/** The projects list (from cache when `fresh` is false). */
export async function projects({ fresh = false } = {}) {
  if (cache && !fresh) return cache;
  if (!pending) {
    pending = api.get('/v1/projects').then((data) => {
      cache = data.projects || [];
      return cache;
    }).finally(() => {
      pending = null;
    });
  }
  return pending;
}

let lastRefetch = 0;

/**
 * Makes sure the names of `ids` are known: fetches the list again (at most
 * every few seconds) when one is missing, e.g. a project created since.
 * Resolves true when the list changed.
 */
export async function ensureKnown(ids) {
  if (!cache || ids.every((id) => cache.some((p) => p.id === id))) return false;
  if (Date.now() - lastRefetch < 5000) return false;
  lastRefetch = Date.now();
  const before = cache.length;
  await projects({ fresh: true });
  return cache.length !== before;
}

/** Forgets the cache (after sign-out, or a project was created). */
export function invalidate() {
  cache = null;
}

/** Name of project `id`, or its short id when unknown. */
export function projectName(id) {
  const found = cache?.find((p) => p.id === id);
  return found ? found.name : String(id).slice(0, 8);
}
