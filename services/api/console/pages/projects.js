// Projects: the list the session may see, each with its token usage today
// and this month against its budgets; for admins a form to create one and
// an editor for each project's repository, default branch and settings
// (JSON, merged key by key by the api; null removes a key).

import { h, replace } from '../lib/dom.js';
import { api } from '../lib/api.js';
import { can } from '../lib/session.js';
import { age, count, dateTime, json, shortId } from '../lib/format.js';
import { invalidate } from '../lib/projects.js';
import { field, clearErrors, showError, parseObject } from '../components/fields.js';
import { noticeArea, show } from '../components/notice.js';

const FIELDS = ['name', 'repo_url', 'default_branch', 'settings'];

function createForm(onCreated) {
  const name = h('input', { type: 'text', autocomplete: 'off', placeholder: 'payments-service' });
  const repo = h('input', { type: 'text', autocomplete: 'off', class: 'mono', placeholder: 'https://git.example.com/team/repo.git' });
  const branch = h('input', { type: 'text', autocomplete: 'off', placeholder: 'main' });
  const settings = h('textarea', { rows: 3, class: 'mono', placeholder: '{"require_approval": true}', spellcheck: 'false' });
  const form = h('form', { class: 'card form', id: 'project-create', novalidate: true },
    h('h2', { class: 'card-title' }, 'New project'),
    h('div', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'field-row' },
      field({ name: 'name', label: 'Name', control: name, prefix: 'new-' }),
      field({ name: 'default_branch', label: 'Default branch', control: branch, prefix: 'new-' })),
    field({ name: 'repo_url', label: 'Repository URL (optional)', control: repo, prefix: 'new-' }),
    field({ name: 'settings', label: 'Settings (JSON object, optional)', control: settings, prefix: 'new-' }),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create project')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { name: name.value.trim() };
    if (repo.value.trim()) body.repo_url = repo.value.trim();
    if (branch.value.trim()) body.default_branch = branch.value.trim();
    try {
      const parsed = parseObject(settings.value, 'settings');
      if (parsed) body.settings = parsed;
      await api.post('/v1/projects', body);
      form.reset();
      invalidate();
      onCreated(`Project ${body.name} created.`);
    } catch (err) {
      showError(form, err.message, FIELDS);
    }
  });
  return form;
}

function editor(project, onSaved, onClose) {
  const prefix = `edit-${project.id}-`;
  const repo = h('input', { type: 'text', class: 'mono', value: project.repo_url || '' });
  const branch = h('input', { type: 'text', value: project.default_branch || '' });
  const settings = h('textarea', { rows: 6, class: 'mono', spellcheck: 'false' });
  settings.value = json(project.settings || {});
  const form = h('form', { class: 'project-editor form', novalidate: true },
    h('div', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'field-row' },
      field({ name: 'repo_url', label: 'Repository URL', control: repo, prefix }),
      field({ name: 'default_branch', label: 'Default branch', control: branch, prefix })),
    field({ name: 'settings', label: 'Settings (keys merged; null removes one)', control: settings, prefix }),
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'btn', on: { click: onClose } }, 'Close'),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const body = { settings: parseObject(settings.value, 'settings', {}) };
      if (repo.value.trim() !== (project.repo_url || '')) body.repo_url = repo.value.trim() || null;
      if (branch.value.trim() && branch.value.trim() !== project.default_branch) body.default_branch = branch.value.trim();
      await api.patch(`/v1/projects/${project.id}`, body);
      invalidate();
      onSaved(`Project ${project.name} saved.`);
    } catch (err) {
      showError(form, err.message, FIELDS);
    }
  });
  return form;
}

// "1,234 tokens · 3 runs", and the budget when one is set.
function period(usage, budget) {
  const runs = usage.runs === 1 ? '1 run' : `${count(usage.runs)} runs`;
  const text = `${count(usage.tokens)} tokens · ${runs}`;
  return budget ? `${text} (budget ${count(budget)})` : text;
}

// Fills `slot` with the project's usage (GET /v1/projects/{id}/usage).
async function showUsage(project, slot) {
  try {
    const data = await api.get(`/v1/projects/${project.id}/usage?days=1`);
    const over = data.exceeded
      ? h('span', { class: 'chip chip-warn usage-over' },
        `over its ${data.exceeded.period === 'day' ? 'daily' : 'monthly'} budget`)
      : null;
    replace(slot,
      h('div', { class: 'usage-today' }, 'today ', period(data.today, data.budget.daily)),
      h('div', { class: 'usage-month muted' }, 'this month ', period(data.this_month, data.budget.monthly)),
      over);
  } catch (err) {
    if (err.status !== 401) replace(slot, h('span', { class: 'muted' }, err.message));
  }
}

export default {
  title: 'Projects',
  render(root) {
    const admin = can('manageProjects');
    const notice = noticeArea('projects-notice');
    const list = h('div', { class: 'project-list', id: 'project-list' });
    root.append(h('section', { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Projects')),
      notice, list,
      admin ? createForm((m) => { show(notice, 'ok', m); load(); }) : null));

    async function load() {
      try {
        const { projects } = await api.get('/v1/projects');
        if (!projects.length) {
          replace(list, h('div', { class: 'empty-state' }, admin ? 'No projects yet. Create the first one below.' : 'No projects to show.'));
          return;
        }
        replace(list, projects.map((p) => {
          const slot = h('div', { class: 'editor-slot' });
          const usage = h('dd', { class: 'project-usage', id: `usage-${p.id}` }, '…');
          showUsage(p, usage);
          const settingsKeys = Object.keys(p.settings || {});
          const editButton = admin ? h('button', { type: 'button', class: 'btn btn-small project-edit' }, 'Edit') : null;
          editButton?.addEventListener('click', () => {
            if (slot.firstChild) return replace(slot);
            replace(slot, editor(p, (m) => { show(notice, 'ok', m); load(); }, () => replace(slot)));
          });
          return h('article', { class: 'card project', dataset: { id: p.id } },
            h('div', { class: 'project-head' },
              h('div', {},
                h('h2', { class: 'project-name' }, p.name),
                h('div', { class: 'muted mono small' }, shortId(p.id), ' · created ', h('span', { title: dateTime(p.created_at) }, age(p.created_at)))),
              h('div', { class: 'project-tools' },
                h('a', { href: `/ui/?project=${p.id}`, class: 'btn btn-small' }, 'Runs'),
                editButton)),
            h('dl', { class: 'meta' },
              h('div', { class: 'meta-item' }, h('dt', {}, 'Repository'), h('dd', { class: 'mono' }, p.repo_url || '—')),
              h('div', { class: 'meta-item' }, h('dt', {}, 'Default branch'), h('dd', {}, p.default_branch || '—')),
              h('div', { class: 'meta-item' }, h('dt', {}, 'Settings'), h('dd', { class: 'mono' }, settingsKeys.length ? settingsKeys.join(', ') : '—')),
              h('div', { class: 'meta-item' }, h('dt', {}, 'Tokens'), usage)),
            slot);
        }));
      } catch (err) {
        if (err.status !== 401) show(notice, 'error', err.message);
      }
    }
    load();
  },
};
