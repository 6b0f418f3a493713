// The forms under an `llm` run: a follow-up message (continues the run as a
// new attempt) and, for admins while it awaits approval, a command run in
// its worktree with the exit code and output shown.

import { h, replace } from '../lib/dom.js';
import { api, settle } from '../lib/api.js';
import { CONTINUABLE } from '../components/status.js';
import { noticeArea, show } from '../components/notice.js';

/**
 * Follow-up box, or nothing while the run is not in a state that takes one;
 * the answer is shown in `notice` (the page's, which outlives the box).
 */
export function followUpForm(run, { notice: pageNotice, onDone }) {
  if (!CONTINUABLE.has(run.status)) return null;
  const text = h('textarea', { id: 'follow-up', name: 'message', rows: 3, placeholder: 'Ask for a change, e.g. "also update the README"' });
  const send = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send');
  const notice = noticeArea('follow-up-result');
  const form = h('form', { class: 'card inline-form', id: 'follow-up-form' },
    h('h2', { class: 'card-title' }, h('label', { for: 'follow-up' }, 'Follow-up message')),
    h('p', { class: 'muted' }, 'The run continues on its branch as a new attempt.'),
    text, notice, h('div', { class: 'form-actions' }, send));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    send.disabled = true;
    try {
      const { data } = await api.post(`/v1/runs/${run.id}/messages`, { message: text.value });
      text.value = '';
      show(pageNotice || notice, 'ok', `Message sent. The run is ${data?.status || 'QUEUED'} again, as a new attempt.`);
      await onDone();
    } catch (err) {
      show(notice, 'error', err.message);
    } finally {
      send.disabled = false;
    }
  });
  return form;
}

/** Exec box (admin, awaiting approval). */
export function execForm(run) {
  const cmd = h('input', { type: 'text', id: 'exec-cmd', name: 'cmd', class: 'mono', placeholder: 'cargo test', autocomplete: 'off', spellcheck: 'false' });
  const go = h('button', { type: 'submit', class: 'btn' }, 'Run command');
  const notice = noticeArea('exec-error');
  const out = h('div', { class: 'exec-output', id: 'exec-output' });
  const form = h('form', { class: 'card inline-form', id: 'exec-form' },
    h('h2', { class: 'card-title' }, h('label', { for: 'exec-cmd' }, 'Run a command in the worktree')),
    h('div', { class: 'input-row' }, cmd, go), notice, out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    go.disabled = true;
    replace(out, h('p', { class: 'muted' }, 'Running…'));
    replace(notice);
    try {
      const { data } = await settle(await api.post(`/v1/runs/${run.id}/exec`, { cmd: cmd.value }));
      replace(out,
        h('p', { class: data.exit_code === 0 ? 'exit ok' : 'exit bad' }, `exit code ${data.exit_code ?? '—'}${data.timed_out ? ' (timed out)' : ''}`),
        data.stdout ? h('pre', { class: 'stdout' }, data.stdout) : null,
        data.stderr ? h('pre', { class: 'stderr' }, data.stderr) : null);
    } catch (err) {
      replace(out);
      show(notice, 'error', err.message);
    } finally {
      go.disabled = false;
    }
  });
  return form;
}
