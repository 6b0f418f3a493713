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
