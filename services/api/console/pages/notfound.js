// Any /ui/ path the console has no page for.

import { h } from '../lib/dom.js';

export default {
  title: 'Not found',
  render(root) {
    root.append(h('section', { class: 'page' },
      h('h1', {}, 'Page not found'),
      h('p', {}, 'There is no page at this address. ', h('a', { href: '/ui/' }, 'Go to the runs'), '.')));
  },
};
