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

/** Forgets the cache (after sign-out, or a project was created). */
export function invalidate() {
  cache = null;
}

/** Name of project `id`, or its short id when unknown. */
export function projectName(id) {
  const found = cache?.find((p) => p.id === id);
  return found ? found.name : String(id).slice(0, 8);
}
