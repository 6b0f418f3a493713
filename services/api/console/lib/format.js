// Formatting of ids, times, durations and numbers, the same everywhere.

/**
 * The last 8 hex digits of a UUID: run ids are UUIDv7, whose leading digits
 * are a timestamp shared by every run of the same minute, so the random tail
 * is what tells runs apart at a glance.
 */
export function shortId(id) {
  return String(id || '').replace(/-/g, '').slice(-8);
}

/** "850 ms", "12.3 s", "4m 05s", "2h 10m". */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** "just now", "12s ago", "5m ago", "3h ago", "2d ago". */
export function age(iso, now = Date.now()) {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

/** Local date and time with seconds. */
export function dateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString(undefined, {
    year: sameYear ? undefined : 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  });
}

/** Local time with milliseconds, for timelines. */
export function clock(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const t = d.toLocaleTimeString(undefined, { hour12: false });
  return `${t}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** How long a run has run: started (or created) to finished, or to now. */
export function runDuration(run, now = Date.now()) {
  if (!run.started_at) return null;
  const end = run.finished_at ? Date.parse(run.finished_at) : now;
  return end - Date.parse(run.started_at);
}

/** 12345 → "12,345". */
export function count(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString();
}

/** Pretty JSON for payloads. */
export function json(value) {
  return JSON.stringify(value, null, 2);
}
