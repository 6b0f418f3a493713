// The overview: runs by status, throughput (finished per minute) and latency
// (p50/p95) over the last hour, and the dead-letter count, from GET /v1/stats.

import { h, replace } from '../lib/dom.js';
import { api } from '../lib/api.js';
import { poll } from '../lib/poller.js';
import { count, duration } from '../lib/format.js';
import { STATUSES, statusClass } from '../components/status.js';
import { barChart, lineChart, legend } from '../components/charts.js';
import { noticeArea, show, clear } from '../components/notice.js';

const THROUGHPUT = [
  { key: 'completed', label: 'completed', cls: 's-completed' },
  { key: 'failed', label: 'failed', cls: 's-failed' },
  { key: 'other', label: 'other endings', cls: 's-other' },
];
const LATENCY = [
  { key: 'p50_ms', label: 'p50', cls: 's-p50' },
  { key: 'p95_ms', label: 'p95', cls: 's-p95' },
];

/** A status name that may wrap after its underscores (AWAITING_APPROVAL). */
function breakable(name) {
  return name.split('_').flatMap((part, i) => (i ? ['_', h('wbr'), part] : [part]));
}

export default {
  title: 'Overview',
  render(root) {
    const notice = noticeArea('overview-notice');
    const tiles = h('div', { class: 'tiles', id: 'status-tiles' });
    const summary = h('div', { class: 'tiles tiles-summary', id: 'summary-tiles' });
    const throughput = h('div', { class: 'chart-box', id: 'throughput-chart' });
    const latency = h('div', { class: 'chart-box', id: 'latency-chart' });
    const totals = h('p', { class: 'muted chart-note' });
    const latencyNote = h('p', { class: 'muted chart-note' });
    root.append(h('section', { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Overview'), h('div', { class: 'page-tools' }, h('span', { class: 'muted' }, 'Last hour'))),
      notice, tiles, summary,
      h('div', { class: 'chart-grid' },
        h('section', { class: 'card' }, h('h2', { class: 'card-title' }, 'Throughput (runs finished per minute)'), legend(THROUGHPUT), throughput, totals),
        h('section', { class: 'card' }, h('h2', { class: 'card-title' }, 'Latency (created → finished)'), legend(LATENCY), latency, latencyNote))));

    const stop = poll(async () => {
      try {
        const stats = await api.get('/v1/stats');
        clear(notice);
        const by = stats.by_status || {};
        const dead = stats.dead_letters;
        replace(tiles,
          STATUSES.map((s) => h('a', { class: `tile tile-${statusClass(s)}`, href: `/ui/?status=${s}`, dataset: { status: s } },
            h('span', { class: 'tile-label' }, breakable(s)), h('span', { class: 'tile-value' }, count(by[s] ?? 0)))));
        const buckets = (stats.buckets || []).map((b) => ({ ...b, other: Math.max(0, (b.finished || 0) - (b.completed || 0) - (b.failed || 0)) }));
        const sum = (key) => buckets.reduce((n, b) => n + (b[key] || 0), 0);
        const finishedAll = sum('finished');
        const worst = buckets.map((b) => b.p95_ms).filter((v) => typeof v === 'number');
        const tile = (label, value, note, cls, id) => h('div', { class: ['tile', 'tile-plain', cls], id },
          h('span', { class: 'tile-label' }, label), h('span', { class: 'tile-value' }, value), note ? h('span', { class: 'tile-note' }, note) : null);
        replace(summary,
          tile('Finished, last hour', count(finishedAll), `${count(sum('completed'))} completed`),
          tile('Failure rate', finishedAll ? `${Math.round((sum('failed') / finishedAll) * 100)}%` : '—', `${count(sum('failed'))} failed`),
          tile('Slowest p95 of a minute', worst.length ? duration(Math.max(...worst)) : '—', 'created → finished'),
          tile('Dead letters', dead === null || dead === undefined ? '—' : count(dead),
            dead === null ? 'broker unreachable' : 'messages in the dead-letter queue', dead > 0 ? 'tile-alert' : null, 'dead-letters'));
        replace(throughput, barChart('Runs finished per minute', buckets, THROUGHPUT));
        replace(latency, lineChart('Latency p50 and p95', buckets, LATENCY, (v) => duration(v)));
        const finished = buckets.reduce((n, b) => n + (b.finished || 0), 0);
        totals.textContent = `${count(finished)} finished in the last ${Math.round((stats.window_s || 3600) / 60)} minutes.`;
        const p95s = buckets.map((b) => b.p95_ms).filter((v) => typeof v === 'number');
        latencyNote.textContent = p95s.length ? `Worst p95 of a minute: ${duration(Math.max(...p95s))}.` : 'No run finished in this window.';
      } catch (err) {
        if (err.status !== 401) show(notice, 'error', err.message);
      }
    }, 5000);
    return stop;
  },
};
