// An `llm` run's conversation read as a dialogue: the goal and follow-ups,
// the model's words, each tool call with its arguments and, right under it,
// what the tool returned. From the run's stored `result.conversation` when it
// has one, else from the live TOOL_CALLED / TOOL_RESULT / PLAN_GENERATED events.

import { h } from '../lib/dom.js';
import { count, json } from '../lib/format.js';

function parseArgs(text) {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function block(text, cls = 'msg-text') {
  return h('div', { class: cls }, String(text ?? ''));
}

function output(text, ok) {
  const body = String(text ?? '');
  const long = body.split('\n').length > 12 || body.length > 1200;
  const pre = h('pre', { class: 'tool-output' }, body || '(no output)');
  const label = ok === false ? 'failed' : 'returned';
  return long
    ? h('details', { class: ['tool-result', ok === false && 'failed'] }, h('summary', {}, `${label} · ${body.split('\n').length} lines`), pre)
    : h('div', { class: ['tool-result', ok === false && 'failed'] }, h('div', { class: 'tool-result-label' }, label), pre);
}

/** Arguments as name / value pairs, strings shown as they are (file contents stay readable). */
function argumentList(args) {
  if (!args || typeof args !== 'object' || Array.isArray(args)) return h('pre', { class: 'tool-args' }, typeof args === 'string' ? args : json(args));
  const entries = Object.entries(args);
  if (!entries.length) return null;
  return h('dl', { class: 'tool-args-list' }, entries.map(([key, value]) => [
    h('dt', {}, key),
    h('dd', {}, h('pre', { class: 'tool-args' }, typeof value === 'string' ? value : json(value))),
  ]));
}

function toolCall(name, args, result) {
  return h('div', { class: 'tool-call' },
    h('div', { class: 'tool-head' }, h('span', { class: 'tool-name' }, name), h('span', { class: 'muted' }, 'tool call')),
    argumentList(parseArgs(args)),
    result ? output(result.text, result.ok) : h('div', { class: 'tool-result pending muted' }, 'waiting for the result…'));
}

function bubble(role, label, ...children) {
  return h('li', { class: `msg msg-${role}` }, h('div', { class: 'msg-role' }, label), ...children);
}

/** From the stored conversation (OpenAI chat messages). */
export function fromMessages(messages) {
  const results = new Map();
  for (const m of messages) {
    if (m.role === 'tool') results.set(m.tool_call_id, { text: m.content });
  }
  let users = 0;
  const items = [];
  for (const m of messages) {
    if (m.role === 'system') {
      items.push(h('li', { class: 'msg msg-system' }, h('details', {}, h('summary', {}, 'System prompt'), block(m.content, 'msg-text mono'))));
    } else if (m.role === 'user') {
      users += 1;
      items.push(bubble('user', users === 1 ? 'Prompt' : 'Message', block(m.content)));
    } else if (m.role === 'assistant') {
      const calls = (m.tool_calls || []).map((c) => toolCall(c.function?.name, c.function?.arguments, results.get(c.id)));
      items.push(bubble('assistant', 'Model', m.content ? block(m.content) : null, ...calls));
    }
  }
  return h('ol', { class: 'conversation', id: 'conversation' }, items);
}

/** From timeline events, while the run has no stored conversation yet. */
export function fromEvents(events, goal) {
  const results = new Map();
  for (const e of events) {
    if (e.kind === 'TOOL_RESULT') results.set(e.payload?.id, { text: e.payload?.output, ok: e.payload?.ok });
  }
  const items = [bubble('user', 'Goal', block(goal))];
  for (const e of events) {
    const p = e.payload || {};
    if (e.kind === 'PLAN_GENERATED') items.push(bubble('assistant', 'Model', block(p.plan)));
    else if (e.kind === 'TOOL_CALLED') items.push(bubble('assistant', 'Model', toolCall(p.name, p.arguments, results.get(p.id))));
    else if (e.kind === 'MESSAGE_POSTED') items.push(bubble('user', 'Message', block(p.message)));
  }
  return h('ol', { class: 'conversation', id: 'conversation' }, items);
}

/** What a review did with the run's branch, in a few words. */
function reviewed(review) {
  if (review.decision === 'rejected') return 'rejected, branch deleted';
  if (review.decision !== 'approved') return String(review.decision || '—');
  if (review.merged_into) return `merged into ${review.merged_into}`;
  return review.pushed_to_origin === false ? 'kept, not pushed' : 'kept, pushed';
}

/** The model's summary and the numbers of its work (and its review, once reviewed). */
export function summaryCard(result) {
  const usage = result.usage || {};
  const stat = (label, value) => h('div', { class: 'stat' }, h('dt', {}, label), h('dd', {}, value));
  return h('div', { class: 'llm-summary', id: 'llm-summary' },
    result.summary ? h('div', { class: 'summary-text' }, result.summary) : h('p', { class: 'muted' }, 'No summary.'),
    h('dl', { class: 'stats-row' },
      stat('Model', result.model || '—'),
      stat('Tokens', count(usage.total_tokens)),
      stat('Prompt / completion', `${count(usage.prompt_tokens)} / ${count(usage.completion_tokens)}`),
      stat('Iterations', count(result.iterations)),
      stat('Branch', result.branch || '—'),
      stat('Files changed', count(result.files_changed)),
      result.review && typeof result.review === 'object' ? h('div', { class: 'stat', id: 'llm-review' }, h('dt', {}, 'Review'), h('dd', {}, reviewed(result.review))) : null));
}
