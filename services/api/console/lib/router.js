// Client-side routing with the History API: maps /ui/... paths to pages,
// intercepts clicks on same-origin /ui/ links, and gives each page a way to
// clean up (stop polling, close streams) when the user leaves it.

const routes = [];
let teardown = null;
let renderTarget = null;
let guard = () => true;
let afterRender = () => {};

/** Registers a page: pattern like '/ui/runs/:id', page {title, render}. */
export function route(pattern, page) {
  const names = [];
  const source = pattern
    .replace(/\/$/, '')
    .replace(/:[a-z]+/g, (m) => {
      names.push(m.slice(1));
      return '([^/]+)';
    });
  routes.push({ regex: new RegExp(`^${source}/?$`), names, page });
}

/** Where pages render, a hook that may refuse a route, and one after each render. */
export function configure({ target, canEnter, onRender }) {
  renderTarget = target;
  if (canEnter) guard = canEnter;
  if (onRender) afterRender = onRender;
}

function match(pathname) {
  for (const r of routes) {
    const m = r.regex.exec(pathname);
    if (m) {
      const params = {};
      r.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1]);
      });
      return { page: r.page, params };
    }
  }
  return null;
}

/** Stops whatever the current page runs in the background. */
export function leave() {
  if (teardown) {
    try {
      teardown();
    } catch (err) {
      console.warn('page cleanup failed', err);
    }
  }
  teardown = null;
}

/** Renders the page of the current URL. */
export function render() {
  leave();
  const url = new URL(window.location.href);
  const found = match(url.pathname) || match('/ui/not-found');
  if (!found || !guard(found.page)) return;
  document.title = `${found.page.title} · agent-runner`;
  renderTarget.replaceChildren();
  teardown = found.page.render(renderTarget, found.params, url.searchParams) || null;
  afterRender(url.pathname, found.page);
}

/** Goes to `path` (pushes history unless replace). */
export function navigate(path, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  render();
  window.scrollTo(0, 0);
}

/** Rewrites the query string of the current page without rendering again. */
export function setQuery(params) {
  const url = new URL(window.location.href);
  url.search = '';
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  window.history.replaceState(null, '', url.pathname + url.search);
}

/** Starts listening to link clicks and back/forward. */
export function start() {
  window.addEventListener('popstate', render);
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest('a[href]');
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith('/ui/')) return;
    if (url.pathname.startsWith('/ui/assets/')) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  render();
}
