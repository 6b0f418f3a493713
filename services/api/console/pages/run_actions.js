// The action buttons of a run (Cancel, Retry, Approve, Reject): offered only
// where the run's state and the signed-in role allow them, Cancel and Reject
// behind a confirmation, each showing the api's answer or error.

import { h } from '../lib/dom.js';
import { api, settle } from '../lib/api.js';
import { can } from '../lib/session.js';
import { CANCELLABLE, RETRYABLE } from '../components/status.js';
import { confirmDialog } from '../components/dialog.js';
import { show } from '../components/notice.js';

function describeReview(data) {
  const review = data?.result?.review;
  if (!review) return null;
  if (review.decision === 'approved') {
    if (review.merged_into) return `Approved: merged into ${review.merged_into}${review.merged_commit ? ` (${String(review.merged_commit).slice(0, 10)})` : ''}.`;
    return `Approved: branch ${review.branch || ''} kept.`;
  }
  return 'Rejected: the run\'s branch was deleted.';
}

/** The bar of buttons for `run`; `onDone()` refreshes the page after an action. */
export function actionBar(run, { notice, onDone }) {
  const buttons = [];

  function action(label, cls, perform) {
    const button = h('button', { type: 'button', class: ['btn', cls], id: `action-${label.toLowerCase()}` }, label);
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
