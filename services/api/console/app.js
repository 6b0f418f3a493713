// The console's entry point: reads the session, shows the sign-in page or
// the app shell (header nav with the token's name, role and Sign out), and
// wires the pages into the router.

import { h, replace } from './lib/dom.js';
import { setUnauthorizedHandler } from './lib/api.js';
import { configure, leave, render, route, start } from './lib/router.js';
import { can, forget, load, session, signOut } from './lib/session.js';
import { invalidate } from './lib/projects.js';
import { renderSignIn } from './pages/signin.js';
import runsPage from './pages/runs.js';
import runPage from './pages/run.js';
import submitPage from './pages/submit.js';
import projectsPage from './pages/projects.js';
import workersPage from './pages/workers.js';
import overviewPage from './pages/overview.js';
import notFoundPage from './pages/notfound.js';

const root = document.getElementById('app');
let started = false;
let signedIn = false;

const NAV = [
  { href: '/ui/', label: 'Runs', match: (p) => p === '/ui/' || p === '/ui' || p.startsWith('/ui/runs') },
  { href: '/ui/overview', label: 'Overview' },
  { href: '/ui/submit', label: 'Submit', needs: 'submit' },
  { href: '/ui/projects', label: 'Projects' },
  { href: '/ui/workers', label: 'Workers' },
];

/** A page only some roles may use: others get an explanation, not the form. */
function restricted(page, action, what) {
  return {
    title: page.title,
    render(target, params, query) {
      if (can(action)) return page.render(target, params, query);
      target.append(h('section', { class: 'page' }, h('h1', {}, page.title),
        h('p', { class: 'notice notice-info' }, `Your role (${session().role}) may not ${what}.`)));
      return null;
    },
  };
}

route('/ui/', runsPage);
route('/ui/runs', runsPage);
route('/ui/runs/:id', runPage);
route('/ui/submit', restricted(submitPage, 'submit', 'submit runs'));
route('/ui/projects', projectsPage);
route('/ui/workers', workersPage);
route('/ui/overview', overviewPage);
route('/ui/not-found', notFoundPage);

function header(s) {
  const signOutButton = h('button', { type: 'button', class: 'btn btn-ghost', id: 'sign-out' }, 'Sign out');
  signOutButton.addEventListener('click', async () => {
    signOutButton.disabled = true;
    try {
      await signOut();
    } catch (err) {
      console.warn('sign-out:', err.message);
    }
    showSignIn();
  });
  const scope = Array.isArray(s.projects) ? `${s.projects.length} project${s.projects.length === 1 ? '' : 's'}` : null;
  return h('header', { class: 'topbar' },
    h('div', { class: 'topbar-inner' },
      h('a', { href: '/ui/', class: 'brand' }, h('img', { src: '/ui/assets/logo.svg', alt: '', width: 22, height: 22 }), 'agent-runner'),
      h('nav', { class: 'nav', 'aria-label': 'Main' },
        NAV.filter((item) => !item.needs || can(item.needs)).map((item) => h('a', { href: item.href, class: 'nav-link', dataset: { nav: item.href } }, item.label))),
      h('div', { class: 'who', id: 'who' },
        h('span', { class: 'who-name', id: 'who-name' }, s.name),
        h('span', { class: `role role-${s.role}`, id: 'who-role' }, s.role),
        scope ? h('span', { class: 'who-scope muted' }, scope) : null,
        signOutButton)));
}

function markNav(pathname) {
  for (const link of root.querySelectorAll('.nav-link')) {
    const item = NAV.find((n) => n.href === link.dataset.nav);
    const active = item.match ? item.match(pathname) : pathname.startsWith(item.href);
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function showApp() {
  signedIn = true;
  const main = h('main', { class: 'main', id: 'main' });
  replace(root, h('a', { href: '#main', class: 'skip-link' }, 'Skip to content'), header(session()), main);
  configure({ target: main, canEnter: () => signedIn, onRender: markNav });
  if (started) render();
  else {
    started = true;
    start();
  }
}

function showSignIn() {
  signedIn = false;
  leave();
  forget();
  invalidate();
  renderSignIn(root, () => showApp());
}

setUnauthorizedHandler(() => {
  if (signedIn) showSignIn();
});

async function boot() {
  try {
    if (await load()) showApp();
    else showSignIn();
  } catch (err) {
    const again = h('button', { type: 'button', class: 'btn btn-primary' }, 'Try again');
    again.addEventListener('click', boot);
    replace(root, h('main', { class: 'signin' }, h('div', { class: 'signin-card' },
      h('h1', {}, 'The console could not reach the api'),
      h('p', { class: 'notice notice-error', role: 'alert' }, err.message), again)));
  }
}

boot();
