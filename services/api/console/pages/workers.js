// Live workers: concurrency, runs in flight, the command sandbox's layers,
// last heartbeat, metrics address; refreshes itself every two seconds.

import { h, replace } from '../lib/dom.js';
import { api } from '../lib/api.js';
import { poll } from '../lib/poller.js';
import { age, dateTime } from '../lib/format.js';
import { noticeArea, show, clear } from '../components/notice.js';

function load(worker) {
  const pct = worker.concurrency ? Math.min(100, Math.round((worker.in_flight / worker.concurrency) * 100)) : 0;
  const meter = h('meter', { min: 0, max: worker.concurrency || 1, value: worker.in_flight, 'aria-label': `${worker.in_flight} of ${worker.concurrency} slots busy` });
  return h('span', { class: 'load' }, meter, h('span', { class: 'num' }, `${worker.in_flight} / ${worker.concurrency}`), h('span', { class: 'muted' }, ` ${pct}%`));
}

/** Readable names of the sandbox layers a worker reports. */
const LAYERS = {
  namespaces: 'namespaces',
  landlock_fs: 'Landlock files',
  landlock_tcp: 'Landlock TCP',
  landlock_scope: 'Landlock scope',
  seccomp: 'seccomp',
  rlimits: 'limits',
  pids_cgroup: 'pids cgroup',
};

/**
 * The worker's command sandbox: a chip per active layer; `off` and
 * `unavailable: …` as a warning (commands run unconfined, or not at all);
 * nothing reported (no `llm` agent) as a dash.
 */
function sandbox(value) {
  if (value === null || value === undefined || value === '') {
    return h('span', { class: 'muted', title: 'This worker runs no llm agent, so no commands.' }, '—');
  }
  if (value === 'off') {
    return h('span', { class: 'chip chip-warn', 'data-sandbox': 'off', title: 'Commands run without a sandbox (AGENT_SANDBOX=off).' }, 'off: no sandbox');
  }
  if (value.startsWith('unavailable')) {
    return h('span', { class: 'chip chip-warn', 'data-sandbox': 'unavailable', title: value }, value);
  }
  return h('span', { class: 'chips', 'data-sandbox': 'layers' },
    value.split(',').map((layer) => layer.trim()).filter(Boolean)
      .map((layer) => h('span', { class: 'chip', 'data-layer': layer, title: layer }, LAYERS[layer] || layer)));
}

export default {
  title: 'Workers',
  render(root) {
    const notice = noticeArea('workers-notice');
    const tbody = h('tbody', { id: 'workers-body' });
    const summary = h('p', { class: 'muted', id: 'workers-summary' });
    const empty = h('div', { class: 'empty-state', hidden: true }, 'No worker is connected. Runs wait in the queue until one starts.');
    root.append(h('section', { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Workers'),
        h('div', { class: 'page-tools' }, h('span', { class: 'live' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live'))),
      summary, notice,
      h('div', { class: 'table-wrap' }, h('table', { class: 'data-table', id: 'workers-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Worker'), h('th', {}, 'Host'), h('th', {}, 'In flight'), h('th', {}, 'Sandbox'), h('th', {}, 'Last heartbeat'), h('th', {}, 'Started'), h('th', {}, 'Metrics'))),
        tbody)),
      empty));
    const stop = poll(async () => {
      try {
        const data = await api.get('/v1/workers');
        clear(notice);
        const workers = data.workers || [];
        const slots = workers.reduce((n, w) => n + w.concurrency, 0);
        const busy = workers.reduce((n, w) => n + w.in_flight, 0);
        summary.textContent = `${workers.length} worker${workers.length === 1 ? '' : 's'}, ${busy} of ${slots} slots busy.`;
        empty.hidden = workers.length > 0;
        replace(tbody, workers.map((w) => h('tr', { 'data-worker': w.id },
          h('td', { 'data-label': 'Worker', class: 'mono worker-id' }, w.id),
          h('td', { 'data-label': 'Host' }, w.hostname),
          h('td', { 'data-label': 'In flight' }, load(w)),
          h('td', { 'data-label': 'Sandbox', class: 'sandbox' }, sandbox(w.sandbox)),
          h('td', { 'data-label': 'Last heartbeat', title: dateTime(w.last_heartbeat) }, age(w.last_heartbeat)),
          h('td', { 'data-label': 'Started', title: dateTime(w.started_at) }, age(w.started_at)),
          h('td', { 'data-label': 'Metrics', class: 'mono' }, w.metrics_addr || '—'))));
      } catch (err) {
        if (err.status !== 401) show(notice, 'error', err.message);
      }
    }, 2000);
    return stop;
  },
};
