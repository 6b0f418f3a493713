// Inline messages under an action: success or the api's error, announced to
// screen readers (role=status / role=alert).

import { h, replace } from '../lib/dom.js';

/** An empty message area; fill it with show(). */
export function noticeArea(id) {
  return h('div', { class: 'notice-area', id, 'aria-live': 'polite' });
}

/** Shows `text` in `area` as 'ok', 'error' or 'info'. */
export function show(area, kind, text, ...extra) {
  replace(area, h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text, ...extra));
}

/** Empties the area. */
export function clear(area) {
  area.replaceChildren();
}
