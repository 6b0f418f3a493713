// Run statuses: their names, which are active or ended, and the badge that
// shows them in the same colour on every page.

import { h } from '../lib/dom.js';

export const STATUSES = [
  'QUEUED', 'RUNNING', 'RETRYING', 'AWAITING_APPROVAL',
  'COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED',
];

/** Statuses a run can still leave on its own. */
export const ACTIVE = new Set(['QUEUED', 'RUNNING', 'RETRYING']);

/** Statuses a cancel applies to. */
export const CANCELLABLE = ACTIVE;

/** Statuses a retry applies to. */
export const RETRYABLE = new Set(['FAILED', 'CANCELLED']);

/** Statuses an `llm` run takes a follow-up message in. */
export const CONTINUABLE = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'AWAITING_APPROVAL']);

/** CSS modifier of a status: 'awaiting-approval'. */
export function statusClass(status) {
  return String(status || 'unknown').toLowerCase().replace(/_/g, '-');
}

/** A badge with the status by its name. */
export function statusBadge(status) {
  return h('span', { class: `status status-${statusClass(status)}`, 'data-status': status }, status || '—');
}

/** Updates an existing badge in place (keeps the node). */
export function updateBadge(badge, status) {
  if (badge.dataset.status === status) return;
  badge.dataset.status = status;
  badge.className = `status status-${statusClass(status)}`;
  badge.textContent = status;
}
