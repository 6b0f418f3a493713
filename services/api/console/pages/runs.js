// The runs list: newest first, live (polled while the tab is visible),
// filtered by status, project, agent and goal text (kept in the query
// string), keyset pages, and a bulk Cancel for roles that may cancel.

import { h, replace, setText } from '../lib/dom.js';
import { api, withQuery } from '../lib/api.js';
import { setQuery } from '../lib/router.js';
import { can } from '../lib/session.js';
import { poll } from '../lib/poller.js';
import { age, duration, runDuration, shortId } from '../lib/format.js';
import { ensureKnown, projects, projectName } from '../lib/projects.js';
import { STATUSES, CANCELLABLE, statusBadge, updateBadge } from '../components/status.js';
import { confirmDialog } from '../components/dialog.js';
import { noticeArea, show, clear } from '../components/notice.js';

const PAGE_SIZE = 50;
const REFRESH_MS = 1500;
export const AGENTS = ['simulated', 'llm'];

function select(name, label, options, value) {
  const el = h('select', { name, id: `filter-${name}` },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  return h('label', { class: 'filter' }, h('span', { class: 'filter-label' }, label), el);
}

export default {
  title: 'Runs',
  render(root, _params, query) {
    const filters = {
      status: query.get('status') || '',
      project: query.get('project') || '',
      agent: query.get('agent') || '',
      q: query.get('q') || '',
      cursor: query.get('cursor') || '',
    };
    const newer = []; // cursors of the pages before this one (memory only)
    const selected = new Set();
    const rows = new Map();
    const mayCancel = can('cancel');
    let lastRuns = [];
    let nextCursor = null;

    const notice = noticeArea('runs-notice');
    const tbody = h('tbody', { id: 'runs-body' });
    const empty = h('div', { class: 'empty-state', hidden: true }, 'No runs match these filters.');
    const selectAll = mayCancel ? h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select every cancellable run' }) : null;
    const cancelSelected = h('button', { type: 'button', class: 'btn btn-danger', id: 'cancel-selected' }, 'Cancel selected');
    const selectedCount = h('span', { class: 'muted' });
    const bulk = mayCancel ? h('div', { class: 'bulk-bar', hidden: true }, selectedCount, cancelSelected) : null;
    const newerBtn = h('button', { type: 'button', class: 'btn', id: 'page-newer' }, '← Newer');
    const olderBtn = h('button', { type: 'button', class: 'btn', id: 'page-older' }, 'Older →');
    const updated = h('span', { class: 'live', id: 'runs-live' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live');

    const statusFilter = select('status', 'Status', [['', 'Any status'], ...STATUSES.map((s) => [s, s])], filters.status);
    const projectFilter = select('project', 'Project', [['', 'Any project']], filters.project);
    const agentOptions = AGENTS.includes(filters.agent) || !filters.agent ? AGENTS : [...AGENTS, filters.agent];
    const agentFilter = select('agent', 'Agent', [['', 'Any agent'], ...agentOptions.map((a) => [a, a])], filters.agent);
    const search = h('input', { type: 'search', name: 'q', id: 'filter-q', value: filters.q, placeholder: 'Search goals…', autocomplete: 'off' });

    const form = h('form', { class: 'filters', role: 'search', id: 'runs-filters' },
      statusFilter, projectFilter, agentFilter,
      h('label', { class: 'filter filter-grow' }, h('span', { class: 'filter-label' }, 'Goal contains'), search));

    const head = h('tr', {},
      mayCancel ? h('th', { class: 'col-select' }, selectAll) : null,
      h('th', {}, 'Run'), h('th', {}, 'Project'), h('th', { class: 'col-goal' }, 'Goal'), h('th', {}, 'Agent'),
      h('th', {}, 'Status'), h('th', { class: 'num' }, 'Attempt'), h('th', {}, 'Age'), h('th', { class: 'num' }, 'Duration'));

    root.append(h('section', { class: 'page' },
      h('div', { class: 'page-head' },
        h('h1', {}, 'Runs'),
        h('div', { class: 'page-tools' }, updated, can('submit') ? h('a', { href: '/ui/submit', class: 'btn btn-primary' }, 'New run') : null)),
      form,
      bulk,
      notice,
      h('div', { class: 'table-wrap' }, h('table', { class: 'runs-table', id: 'runs-table' }, h('thead', {}, head), tbody)),
      empty,
      h('div', { class: 'pager' }, newerBtn, olderBtn)));

    function syncQuery() {
      setQuery({ status: filters.status, project: filters.project, agent: filters.agent, q: filters.q, cursor: filters.cursor });
    }

    function updateBulk() {
      if (!mayCancel) return;
      const visible = lastRuns.filter((r) => CANCELLABLE.has(r.status));
      for (const id of [...selected]) if (!visible.some((r) => r.id === id)) selected.delete(id);
      bulk.hidden = selected.size === 0;
      setText(selectedCount, `${selected.size} selected`);
      selectAll.checked = visible.length > 0 && visible.every((r) => selected.has(r.id));
      selectAll.indeterminate = selected.size > 0 && !selectAll.checked;
      selectAll.disabled = visible.length === 0;
    }

    function makeRow(run) {
      const cells = {
        badge: statusBadge(run.status),
        attempt: h('td', { class: 'num', 'data-label': 'Attempt' }),
        age: h('td', { 'data-label': 'Age' }),
        duration: h('td', { class: 'num', 'data-label': 'Duration' }),
        select: h('td', { class: 'col-select' }),
        project: h('td', { 'data-label': 'Project', class: 'col-project' }),
      };
      const tr = h('tr', { dataset: { id: run.id } },
        mayCancel ? cells.select : null,
        h('td', { 'data-label': 'Run', class: 'col-id' }, h('a', { href: `/ui/runs/${run.id}`, class: 'mono run-link' }, shortId(run.id))),
        cells.project,
        h('td', { 'data-label': 'Goal', class: 'col-goal' }, h('span', { class: 'goal', title: run.goal }, run.goal)),
        h('td', { 'data-label': 'Agent' }, h('span', { class: 'agent' }, run.agent)),
        h('td', { 'data-label': 'Status', class: 'col-status' }, cells.badge),
        cells.attempt, cells.age, cells.duration);
      return { tr, cells, status: null };
    }

    function updateRow(row, run, now) {
      updateBadge(row.cells.badge, run.status);
      setText(row.cells.project, projectName(run.project_id));
      setText(row.cells.attempt, `${run.attempt}/${run.max_attempts}`);
      setText(row.cells.age, age(run.created_at, now));
      row.cells.age.title = run.created_at;
      setText(row.cells.duration, duration(runDuration(run, now)));
      if (mayCancel && row.status !== run.status) {
        if (CANCELLABLE.has(run.status)) {
          const box = h('input', { type: 'checkbox', class: 'row-select', 'aria-label': `Select run ${shortId(run.id)}`, checked: selected.has(run.id) });
          box.addEventListener('change', () => {
            if (box.checked) selected.add(run.id);
            else selected.delete(run.id);
            updateBulk();
          });
          replace(row.cells.select, box);
        } else {
          replace(row.cells.select);
        }
      }
      row.status = run.status;
    }

    function draw(runs) {
      const now = Date.now();
      lastRuns = runs;
      const keep = new Set(runs.map((r) => r.id));
      for (const [id, row] of rows) {
        if (!keep.has(id)) {
          row.tr.remove();
          rows.delete(id);
        }
      }
      runs.forEach((run, i) => {
        let row = rows.get(run.id);
        if (!row) {
          row = makeRow(run);
          rows.set(run.id, row);
        }
        updateRow(row, run, now);
        if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      });
      empty.hidden = runs.length > 0;
      newerBtn.disabled = !filters.cursor;
      olderBtn.disabled = !nextCursor;
      updateBulk();
    }

    async function refresh() {
      const data = await api.get(withQuery('/v1/runs', {
        status: filters.status, project_id: filters.project, agent: filters.agent, q: filters.q,
        cursor: filters.cursor, limit: PAGE_SIZE,
      }));
      nextCursor = data.next_cursor || null;
      const runs = data.runs || [];
      // A project created since the page opened: learn its name before drawing.
      if (await ensureKnown(runs.map((r) => r.project_id)).catch(() => false)) addProjectOptions();
      draw(runs);
      updated.classList.remove('stale');
    }

    let stop = () => {};
    function restart() {
      stop();
      syncQuery();
      stop = poll(() => refresh().catch((err) => {
        updated.classList.add('stale');
        if (err.status !== 401) show(notice, 'error', err.message);
        throw err;
      }), REFRESH_MS);
    }

    function addProjectOptions() {
      const selectEl = projectFilter.querySelector('select');
      return projects().then((list) => {
        for (const p of list) {
          if (selectEl.querySelector(`option[value="${p.id}"]`)) continue;
          selectEl.append(h('option', { value: p.id, selected: p.id === filters.project }, p.name));
        }
      });
    }
    addProjectOptions().then(() => draw(lastRuns)).catch((err) => show(notice, 'error', err.message));

    form.addEventListener('change', (event) => {
      if (event.target === search) return;
      filters[event.target.name] = event.target.value;
      filters.cursor = '';
      newer.length = 0;
      clear(notice);
      restart();
    });
    let typing = null;
    search.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        filters.q = search.value.trim();
        filters.cursor = '';
        newer.length = 0;
        restart();
      }, 300);
    });
    form.addEventListener('submit', (event) => event.preventDefault());

    olderBtn.addEventListener('click', () => {
      if (!nextCursor) return;
      newer.push(filters.cursor);
      filters.cursor = nextCursor;
      restart();
    });
    newerBtn.addEventListener('click', () => {
      filters.cursor = newer.length ? newer.pop() : '';
      restart();
    });

    if (mayCancel) {
      selectAll.addEventListener('change', () => {
        for (const run of lastRuns) {
          if (!CANCELLABLE.has(run.status)) continue;
          if (selectAll.checked) selected.add(run.id);
          else selected.delete(run.id);
        }
        for (const row of rows.values()) {
          const box = row.cells.select.querySelector('input');
          if (box) box.checked = selected.has(row.tr.dataset.id);
        }
        updateBulk();
      });
      cancelSelected.addEventListener('click', async () => {
        const ids = [...selected];
        const n = ids.length;
        const ok = await confirmDialog({
          title: `Cancel ${n} run${n === 1 ? '' : 's'}?`,
          body: 'Queued runs end at once; running ones are stopped by their worker within about a second.',
          confirm: `Cancel ${n} run${n === 1 ? '' : 's'}`,
          dismiss: 'Keep them',
          danger: true,
        });
        if (!ok) return;
        cancelSelected.disabled = true;
        const outcomes = await Promise.all(ids.map((id) => api.post(`/v1/runs/${id}/cancel`)
          .then(() => null)
          .catch((err) => `${shortId(id)}: ${err.message}`)));
        cancelSelected.disabled = false;
        const failures = outcomes.filter(Boolean);
        selected.clear();
        if (failures.length) show(notice, 'error', `${n - failures.length} of ${n} cancelled. `, h('ul', {}, failures.map((f) => h('li', {}, f))));
        else show(notice, 'ok', `Cancelled ${n} run${n === 1 ? '' : 's'}.`);
        await refresh().catch(() => {});
      });
    }

    restart();
    return () => {
      stop();
      clearTimeout(typing);
    };
  },
};
