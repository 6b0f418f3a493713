// The action buttons of a run (Cancel, Retry, Approve, Reject): offered only
// where the run's state and the signed-in role allow them, Cancel and Reject
// behind a confirmation, each showing the api's answer or error. Approve
// merges as the project says; "Approve…" next to it chooses another branch to
// merge into, or keeps the branch (pushed or not).

import { h } from '../lib/dom.js';
import { api, settle } from '../lib/api.js';
import { can } from '../lib/session.js';
import { CANCELLABLE, RETRYABLE } from '../components/status.js';
import { confirmDialog, formDialog } from '../components/dialog.js';
import { projects } from '../lib/projects.js';
import { show } from '../components/notice.js';

function describeReview(data) {
  const review = data?.result?.review;
  if (!review) return null;
  if (review.decision === 'approved') {
    if (review.merged_into) return `Approved: merged into ${review.merged_into}${review.merged_commit ? ` (${String(review.merged_commit).slice(0, 10)})` : ''}.`;
    return `Approved: branch ${review.branch || ''} kept${review.pushed_to_origin === false ? ', not pushed' : ''}.`;
  }
  return 'Rejected: the run\'s branch was deleted.';
}

/** The bar of buttons for `run`; `onDone()` refreshes the page after an action. */
export function actionBar(run, { notice, onDone }) {
  const buttons = [];

  function action(label, cls, perform, { id = label.toLowerCase(), title } = {}) {
    const button = h('button', { type: 'button', class: ['btn', cls], id: `action-${id}`, title }, label);
    button.addEventListener('click', async () => {
      const bar = button.parentElement;
      const all = bar ? [...bar.querySelectorAll('button')] : [button];
      try {
        const message = await perform(() => {
          all.forEach((b) => { b.disabled = true; });
          show(notice, 'info', `${label}…`);
        });
        if (message) show(notice, 'ok', message);
      } catch (err) {
        show(notice, 'error', err.message);
      } finally {
        all.forEach((b) => { b.disabled = false; });
      }
      await onDone().catch(() => {});
    });
    buttons.push(button);
  }

  if (CANCELLABLE.has(run.status) && can('cancel') && !run.cancel_requested) {
    action('Cancel', 'btn-danger', async (busy) => {
      const ok = await confirmDialog({
        title: 'Cancel this run?',
        body: run.status === 'RUNNING' ? 'Its worker stops it within about a second.' : 'It will not start.',
        confirm: 'Cancel run',
        dismiss: 'Keep it running',
        danger: true,
      });
      if (!ok) return null;
      busy();
      const { status } = await api.post(`/v1/runs/${run.id}/cancel`);
      return status === 202 ? 'Cancel requested: the worker is stopping the run.' : 'Run cancelled.';
    });
  }
  if (RETRYABLE.has(run.status) && can('retry')) {
    action('Retry', 'btn-primary', async (busy) => {
      busy();
      const { data } = await api.post(`/v1/runs/${run.id}/retry`);
      return `Queued again as attempt ${data?.attempt !== undefined ? data.attempt + 1 : 'next'}.`;
    });
  }
  if (run.status === 'AWAITING_APPROVAL' && can('approve')) {
    action('Approve', 'btn-primary', async (busy) => {
      busy();
      const answer = await settle(await api.post(`/v1/runs/${run.id}/approve`, {}));
      return describeReview(answer.data) || 'Approved.';
    });
    action('Approve…', 'btn', async (busy) => {
      const body = await approveOptions(run);
      if (!body) return null;
      busy();
      const answer = await settle(await api.post(`/v1/runs/${run.id}/approve`, body));
      return describeReview(answer.data) || 'Approved.';
    }, { id: 'approve-options', title: 'Merge into another branch, or keep the branch' });
  }
  if (run.status === 'AWAITING_APPROVAL' && can('reject')) {
    action('Reject', 'btn-danger', async (busy) => {
      const ok = await confirmDialog({
        title: 'Reject this run?',
        body: 'Its branch is deleted; the run ends REJECTED.',
        confirm: 'Reject run',
        dismiss: 'Go back',
        danger: true,
      });
      if (!ok) return null;
      busy();
      const answer = await settle(await api.post(`/v1/runs/${run.id}/reject`, {}));
      return describeReview(answer.data) || 'Rejected.';
    });
  }
  return buttons.length ? h('div', { class: 'action-bar' }, buttons) : h('div', { hidden: true });
}

/** What Approve does when given nothing: the project's settings, else its default branch. */
async function defaultTarget(run) {
  const list = await projects().catch(() => []);
  const project = list.find((p) => p.id === run.project_id);
  const into = project?.settings?.merge_into;
  if (into === false) return 'keep the branch (the project\'s setting)';
  if (typeof into === 'string' && into) return `merge into ${into}`;
  return `merge into ${project?.default_branch || 'the default branch'}`;
}

function choice(value, label, note, checked) {
  return h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'approve-target', value, id: `approve-${value}`, checked }),
    h('span', { class: 'choice-text' }, h('span', {}, label), note ? h('span', { class: 'choice-note' }, note) : null));
}

/**
 * The approve dialog: resolves the body to post (`{}`, `{merge_into}` or
 * `{keep: true, push?: false}`), or null when dismissed.
 */
async function approveOptions(run) {
  const branch = run.result?.branch;
  const fallback = await defaultTarget(run);
  const into = h('input', { type: 'text', id: 'approve-into', name: 'merge_into', class: 'mono', placeholder: 'release', autocomplete: 'off', spellcheck: 'false', maxlength: 255, 'aria-label': 'Branch to merge into', disabled: true });
  const push = h('input', { type: 'checkbox', id: 'approve-push', name: 'push', checked: true, disabled: true });
  const fields = h('div', { class: 'choices' },
    branch ? h('p', { class: 'dialog-body' }, 'The run\'s branch is ', h('code', {}, branch), '.') : null,
    choice('default', 'As the project says', fallback, true),
    choice('merge', 'Merge into another branch', null, false),
    h('div', { class: 'choice-sub' }, into),
    choice('keep', 'Keep the branch', 'Not merged; the run completes with the branch as it is.', false),
    h('label', { class: 'choice-sub', for: 'approve-push' }, push, 'Push it to the project\'s repository'));
  const picked = () => fields.querySelector('input[name="approve-target"]:checked')?.value || 'default';
  fields.addEventListener('change', () => {
    into.disabled = picked() !== 'merge';
    push.disabled = picked() !== 'keep';
    if (!into.disabled && document.activeElement?.name === 'approve-target') into.focus();
  });
  const ok = await formDialog({
    title: 'Approve this run',
    fields,
    confirm: 'Approve',
    check: () => (picked() === 'merge' && !into.value.trim() ? 'Name the branch to merge into.' : null),
  });
  if (!ok) return null;
  if (picked() === 'merge') return { merge_into: into.value.trim() };
  if (picked() === 'keep') return push.checked ? { keep: true } : { keep: true, push: false };
  return {};
}
