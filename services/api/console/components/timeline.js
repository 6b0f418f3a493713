// A run's event timeline: one row per event, by its kind name, with a short
// description, expandable to the JSON payload. Events arrive in any order
// and more than once (initial load, then the live stream); each seq is shown once.

import { h } from '../lib/dom.js';
import { clock, json } from '../lib/format.js';

/** Every event kind the api writes (the stream names each event by its kind). */
export const KINDS = [
  'RUN_CREATED', 'RUN_STARTED', 'AGENT_THINKING', 'PLAN_GENERATED', 'EXECUTING',
  'TOOL_CALLED', 'TOOL_RESULT', 'WORKSPACE_READY', 'DIFF_READY', 'AWAITING_APPROVAL',
  'RUN_RETRYING', 'RUN_COMPLETED', 'RUN_FAILED', 'RUN_CANCELLED', 'RUN_REJECTED',
  'MESSAGE_POSTED', 'RUN_STALLED', 'MODEL_WAITING',
];

/** What holds a model call back, by MODEL_WAITING's `limit`. */
const LIMITS = {
  requests_per_minute: 'requests per minute',
  tokens_per_minute: 'tokens per minute',
  retry_after: 'Retry-After (429)',
};

/** Kinds after which the stream ends until the run is started again. */
export const CLOSING = new Set(['RUN_COMPLETED', 'RUN_FAILED', 'RUN_CANCELLED', 'RUN_REJECTED', 'AWAITING_APPROVAL']);

function firstLine(text, max = 120) {
  const line = String(text ?? '').split('\n').find((l) => l.trim()) || '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** What a tool call is about: its path, command or query, else its arguments. */
function toolSubject(args) {
  if (!args || typeof args !== 'object') return String(args ?? '');
  for (const key of ['path', 'cmd', 'query', 'summary', 'reason']) {
    if (typeof args[key] === 'string') return args[key];
  }
  return JSON.stringify(args);
}

/** One line saying what the event is about. */
export function describe(event) {
  const p = event.payload || {};
  switch (event.kind) {
    case 'AGENT_THINKING':
      return p.iteration ? `iteration ${p.iteration}` : '';
    case 'PLAN_GENERATED':
      return firstLine(p.plan ?? (Array.isArray(p.steps) ? p.steps.join('; ') : ''));
    case 'TOOL_CALLED':
      return `${p.name || 'tool'} ${firstLine(toolSubject(p.arguments), 90)}`.trim();
    case 'TOOL_RESULT':
      return `${p.name || 'tool'} ${p.ok === false ? 'failed' : 'ok'}`;
    case 'WORKSPACE_READY':
      return p.branch ? `branch ${p.branch}` : '';
    case 'DIFF_READY':
      return p.files_changed !== undefined ? `${p.files_changed} file(s), +${p.insertions ?? 0} −${p.deletions ?? 0}` : '';
    case 'MESSAGE_POSTED':
      return firstLine(p.message);
    case 'MODEL_WAITING':
      return `waits ${Math.ceil((p.wait_ms ?? 0) / 1000)} s for the model's ${LIMITS[p.limit] || 'rate limit'}`;
    case 'RUN_FAILED':
    case 'RUN_RETRYING':
      return firstLine(p.error ?? p.reason);
    default:
      return '';
  }
}

function tone(kind) {
  if (kind === 'RUN_COMPLETED') return 'ok';
  if (kind === 'RUN_FAILED' || kind === 'RUN_REJECTED') return 'bad';
  if (kind === 'RUN_RETRYING' || kind === 'AWAITING_APPROVAL') return 'warn';
  if (kind === 'RUN_CANCELLED') return 'muted';
  return 'neutral';
}

/** A timeline component: {el, add(event), lastSeq(), count()}. */
export function timeline() {
  const list = h('ol', { class: 'timeline', id: 'timeline' });
  const empty = h('p', { class: 'empty' }, 'No events yet.');
  const el = h('div', { class: 'timeline-wrap' }, empty, list);
  const rows = new Map();
  let last = 0;

  function add(event) {
    if (rows.has(event.seq)) return false;
    const description = describe(event);
    const row = h('li', { class: `event tone-${tone(event.kind)}`, dataset: { seq: event.seq, kind: event.kind } },
      h('details', {},
        h('summary', {},
          h('span', { class: 'event-dot', 'aria-hidden': 'true' }),
          h('span', { class: 'event-kind' }, event.kind),
          description ? h('span', { class: 'event-desc' }, description) : null,
          h('span', { class: 'event-meta' },
            event.attempt ? h('span', { class: 'event-attempt' }, `#${event.attempt}`) : null,
            h('time', { datetime: event.created_at }, clock(event.created_at)))),
        h('pre', { class: 'event-payload' }, json(event.payload ?? {}))));
    // Keep seq order even when a late event arrives.
    const after = [...rows.keys()].filter((s) => s > event.seq).sort((a, b) => a - b)[0];
    if (after !== undefined) list.insertBefore(row, rows.get(after));
    else list.append(row);
    rows.set(event.seq, row);
    last = Math.max(last, event.seq);
    empty.hidden = true;
    return true;
  }

  return { el, add, lastSeq: () => last, count: () => rows.size };
}
