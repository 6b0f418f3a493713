// A confirmation dialog (a real <dialog>, modal, keyboard friendly): resolves
// true when the user confirms, false when they dismiss it (button or Escape).

import { h } from '../lib/dom.js';

/**
 * confirmDialog({title, body, confirm: 'Cancel run', dismiss: 'Keep it', danger: true})
 */
export function confirmDialog({ title, body, confirm, dismiss = 'Go back', danger = false }) {
  return new Promise((resolve) => {
    const confirmButton = h('button', { type: 'button', class: ['btn', danger ? 'btn-danger' : 'btn-primary', 'dialog-confirm'] }, confirm);
    const dismissButton = h('button', { type: 'button', class: 'btn dialog-dismiss' }, dismiss);
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' },
      h('h2', { id: 'dialog-title', class: 'dialog-title' }, title),
      body ? h('p', { class: 'dialog-body' }, body) : null,
      h('div', { class: 'dialog-actions' }, dismissButton, confirmButton));
    let answer = false;
    confirmButton.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    dismissButton.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    dismissButton.focus();
  });
}

/**
 * formDialog({title, fields: [nodes], confirm: 'Approve', check: () => 'error' | null})
 * A dialog around a small form: resolves true when it is confirmed and
 * `check()` finds nothing wrong (its message is shown in the dialog
 * otherwise), false when dismissed.
 */
export function formDialog({ title, fields, confirm, dismiss = 'Go back', check = () => null }) {
  return new Promise((resolve) => {
    const confirmButton = h('button', { type: 'submit', class: 'btn btn-primary dialog-confirm' }, confirm);
    const dismissButton = h('button', { type: 'button', class: 'btn dialog-dismiss' }, dismiss);
    const problem = h('p', { class: 'notice notice-error dialog-problem', role: 'alert', hidden: true });
    const form = h('form', { class: 'dialog-form', method: 'dialog' },
      h('h2', { id: 'dialog-title', class: 'dialog-title' }, title),
      fields, problem,
      h('div', { class: 'dialog-actions' }, dismissButton, confirmButton));
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' }, form);
    let answer = false;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const wrong = check();
      if (wrong) {
        problem.textContent = wrong;
        problem.hidden = false;
        return;
      }
      answer = true;
      dialog.close();
    });
    const forget = () => { problem.hidden = true; };
    form.addEventListener('change', forget);
    form.addEventListener('input', forget);
    dismissButton.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (form.querySelector('input:checked') || dismissButton).focus();
  });
}
