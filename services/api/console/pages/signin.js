// The sign-in page: an api token (a password field, cleared once used)
// exchanged for a session cookie by POST /v1/session. The token is never
// stored by the page.

import { h } from '../lib/dom.js';
import { signIn } from '../lib/session.js';
import { noticeArea, show, clear } from '../components/notice.js';

/** Renders the form; `onSignedIn(session)` is called after success. */
export function renderSignIn(root, onSignedIn) {
  const input = h('input', {
    type: 'password', id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'art_…', required: true,
  });
  const button = h('button', { type: 'submit', class: 'btn btn-primary btn-block', id: 'sign-in' }, 'Sign in');
  const message = noticeArea('signin-message');
  const form = h('form', { class: 'signin-form', id: 'signin-form', novalidate: true },
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { class: 'field-hint' }, 'An operator creates tokens with ', h('code', {}, 'agent-runner-api token create'), '.'),
    message,
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      show(message, 'error', 'Enter an api token.');
      input.focus();
      return;
    }
    clear(message);
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      const session = await signIn(token);
      input.value = '';
      onSignedIn(session);
    } catch (err) {
      input.value = '';
      show(message, 'error', err.status === 401 ? `Sign-in failed: ${err.message}` : err.message);
      input.focus();
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
  root.replaceChildren(h('main', { class: 'signin', id: 'signin' },
    h('div', { class: 'signin-card' },
      h('div', { class: 'brand brand-large' }, h('img', { src: '/ui/assets/logo.svg', alt: '', width: 28, height: 28 }), 'agent-runner'),
      h('h1', {}, 'Sign in to the console'),
      form)));
  input.focus();
}
