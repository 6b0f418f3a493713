// One run: its header (status, attempt, worker, timings, error), the actions
// its state and the role allow, the live event timeline (initial load, then
// the SSE stream), and for `llm` runs the summary, the diff per file, the
// conversation, a follow-up box and an exec box.

import { h, replace } from '../lib/dom.js';
import { api } from '../lib/api.js';
import { can } from '../lib/session.js';
import { poll } from '../lib/poller.js';
import { age, dateTime, duration, runDuration, shortId } from '../lib/format.js';
import { projects, projectName } from '../lib/projects.js';
import { ACTIVE, statusBadge } from '../components/status.js';
import { timeline, KINDS, CLOSING } from '../components/timeline.js';
import { diffView } from '../components/diff.js';
import { fromEvents, fromMessages, summaryCard } from '../components/conversation.js';
import { noticeArea, show } from '../components/notice.js';
import { actionBar } from './run_actions.js';
import { followUpForm, execForm } from './run_forms.js';

/** Kinds after which the run's row has changed (status, result, attempt). */
const CHANGES_RUN = new Set(['RUN_STARTED', 'RUN_RETRYING', 'DIFF_READY', 'MESSAGE_POSTED', ...CLOSING]);
const CONVERSATION_KINDS = new Set(['PLAN_GENERATED', 'TOOL_CALLED', 'TOOL_RESULT', 'MESSAGE_POSTED']);

function section(title, id, ...children) {
  return h('section', { class: 'card', id },
    h('h2', { class: 'card-title' }, title), ...children);
}

function meta(label, value, id) {
  return h('div', { class: 'meta-item' }, h('dt', {}, label), h('dd', id ? { id } : {}, value));
}

export default {
  title: 'Run',
  render(root, { id }) {
    const tl = timeline();
    const events = [];
    const notice = noticeArea('action-result');
    const head = h('header', { class: 'run-head', id: 'run-head' });
    const actions = h('div', { class: 'run-actions', id: 'run-actions' });
    const llmArea = h('div', { class: 'llm-area' });
    const formsArea = h('div', { class: 'forms-area' });
    const live = h('span', { class: 'live', id: 'stream-state' });
    let run = null;
    let stream = null;
    let reconnect = null;
    let refreshTimer = null;
    let shownState = '';
    let shownResult = '';
    let stopped = false;

    root.append(h('section', { class: 'page run-page' },
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/ui/' }, 'Runs'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { class: 'mono' }, shortId(id))),
      head, actions, notice, llmArea, formsArea,
      section('Timeline', 'timeline-card', h('div', { class: 'card-tools' }, live), tl.el)));

    function renderHead() {
      const ended = run.finished_at;
      replace(head,
        h('div', { class: 'run-title' },
          statusBadge(run.status),
          h('h1', { class: 'run-goal', id: 'run-goal' }, run.goal)),
        h('dl', { class: 'meta' },
          meta('Run', h('span', { class: 'mono', title: run.id }, shortId(run.id))),
          meta('Project', projectName(run.project_id)),
          meta('Agent', run.agent),
          meta('Attempt', `${run.attempt} / ${run.max_attempts}`, 'run-attempt'),
          meta('Worker', run.worker_id || '—', 'run-worker'),
          meta('Created', h('span', { title: dateTime(run.created_at) }, age(run.created_at))),
          meta('Started', run.started_at ? dateTime(run.started_at) : '—'),
          meta(ended ? 'Finished' : 'Timeout', ended ? dateTime(run.finished_at) : `${run.timeout_s} s per attempt`),
          meta('Duration', duration(runDuration(run)), 'run-duration')),
        run.cancel_requested && ACTIVE.has(run.status) ? h('p', { class: 'notice notice-info' }, 'Cancel requested; the worker is stopping the run.') : null,
        run.waiting ? h('p', { class: 'notice notice-info', id: 'run-waiting' }, `Waiting: ${run.waiting.detail}.`) : null,
        run.stalled_since ? h('p', { class: 'notice notice-info', id: 'run-stalled' }, `Stalled: no event since ${dateTime(run.stalled_since)}; the run goes on.`) : null,
        run.error ? h('div', { class: 'run-error', id: 'run-error', role: 'note' }, h('strong', {}, 'Error'), h('pre', {}, run.error)) : null);
    }

    function renderLlm() {
      if (run.agent !== 'llm') return;
      const result = run.result;
      const key = result ? `${run.attempt}:${run.status}:${result.head_commit || ''}:${result.summary || ''}` : `live:${events.length}`;
      if (key === shownResult) return;
      shownResult = key;
      const parts = [];
      if (result && typeof result === 'object') {
        parts.push(section('Summary', 'summary-card', summaryCard(result)));
        if (typeof result.diff === 'string') parts.push(section('Changes', 'diff-card', diffView(result.diff, { truncated: result.diff_truncated })));
      }
      const conversation = Array.isArray(result?.conversation) && !ACTIVE.has(run.status)
        ? fromMessages(result.conversation)
        : fromEvents(events, run.goal);
      parts.push(section('Conversation', 'conversation-card', conversation));
      replace(llmArea, ...parts);
    }

    function renderState() {
      const state = `${run.status}:${run.attempt}:${run.cancel_requested}`;
      if (state === shownState) return;
      shownState = state;
      replace(actions, actionBar(run, { notice, onDone: afterAction }));
      replace(formsArea,
        run.agent === 'llm' && can('message') ? followUpForm(run, { notice, onDone: afterAction }) : null,
        run.status === 'AWAITING_APPROVAL' && can('exec') ? execForm(run) : null);
    }

    function draw() {
      renderHead();
      renderState();
      renderLlm();
      live.replaceChildren(...(ACTIVE.has(run.status)
        ? [h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Following live']
        : [`${tl.count()} events`]));
    }

    async function loadRun() {
      run = await api.get(`/v1/runs/${id}`);
      draw();
      if (ACTIVE.has(run.status)) openStream();
      return run;
    }

    function scheduleRefresh() {
      if (refreshTimer) return;
      refreshTimer = setTimeout(() => {
        refreshTimer = null;
        if (!stopped) loadRun().catch(() => {});
      }, 150);
    }

    function addEvent(event) {
      if (!tl.add(event)) return;
      events.push(event);
      events.sort((a, b) => a.seq - b.seq);
      if (CHANGES_RUN.has(event.kind)) scheduleRefresh();
      else if (run && run.agent === 'llm' && CONVERSATION_KINDS.has(event.kind) && ACTIVE.has(run.status)) renderLlm();
    }

    async function loadEvents() {
      const data = await api.get(`/v1/runs/${id}/events?after=${tl.lastSeq()}`);
      for (const event of data.events || []) addEvent(event);
    }

    function closeStream() {
      if (stream) stream.close();
      stream = null;
      clearTimeout(reconnect);
    }

    function openStream() {
      if (stream || stopped) return;
      stream = new EventSource(`/v1/runs/${id}/events/stream?after=${tl.lastSeq()}`);
      const onEvent = (message) => {
        let event;
        try {
          event = JSON.parse(message.data);
        } catch {
          return;
        }
        addEvent(event);
        if (CLOSING.has(event.kind)) closeStream();
      };
      for (const kind of KINDS) stream.addEventListener(kind, onEvent);
      stream.addEventListener('message', onEvent);
      // The stream ends after the run's last event (or failed): read the run
      // again and follow it further only while it is still active.
      stream.addEventListener('error', () => {
        closeStream();
        reconnect = setTimeout(() => {
          if (stopped) return;
          loadEvents().then(loadRun).catch(() => {});
        }, 1000);
      });
    }

    async function afterAction() {
      await loadRun();
      await loadEvents();
      if (ACTIVE.has(run.status)) openStream();
    }

    // Durations of active runs tick, and a missed stream event is caught up.
    const stopPoll = poll(async () => {
      if (!run || !ACTIVE.has(run.status)) return;
      const el = head.querySelector('#run-duration');
      if (el) el.textContent = duration(runDuration(run));
    }, 1000);

    (async () => {
      try {
        await projects().catch(() => []);
        await loadEvents();
        await loadRun();
      } catch (err) {
        if (err.status === 401) return;
        replace(head, h('h1', {}, `Run ${shortId(id)}`), h('div', { class: 'notice notice-error', role: 'alert' }, err.message));
      }
    })();

    return () => {
      stopped = true;
      closeStream();
      clearTimeout(refreshTimer);
      stopPoll();
    };
  },
};
