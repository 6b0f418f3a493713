// Submitting a run (runner and above): project, goal, agent, params as
// JSON (checked here before sending), max attempts, timeout, priority. The api's 422
// messages are shown under the field they name; success opens the run.

import { h, replace } from '../lib/dom.js';
import { api } from '../lib/api.js';
import { navigate } from '../lib/router.js';
import { projects } from '../lib/projects.js';
import { field, clearErrors, showError, parseObject } from '../components/fields.js';
import { AGENTS } from './runs.js';

const FIELDS = ['project_id', 'goal', 'agent', 'params', 'max_attempts', 'timeout_s', 'priority'];

function number(text) {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : trimmed;
}

export default {
  title: 'New run',
  render(root, _params, query) {
    const project = h('select', {}, h('option', { value: '' }, 'Loading projects…'));
    const goal = h('textarea', { rows: 4, placeholder: 'What should the agent achieve?' });
    const agent = h('select', {}, AGENTS.map((a) => h('option', { value: a, selected: a === 'simulated' }, a)));
    const params = h('textarea', { rows: 4, class: 'mono', placeholder: '{"step_delay_ms": 200}', spellcheck: 'false' });
    const maxAttempts = h('input', { type: 'text', inputmode: 'numeric', placeholder: 'default' });
    const timeout = h('input', { type: 'text', inputmode: 'numeric', placeholder: 'default' });
    const priority = h('input', { type: 'text', inputmode: 'numeric', placeholder: '0' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'submit-run' }, 'Submit run');
    const form = h('form', { class: 'card form', id: 'submit-form', novalidate: true },
      h('div', { class: 'form-error', role: 'alert', id: 'form-error' }),
      field({ name: 'project_id', label: 'Project', control: project }),
      field({ name: 'goal', label: 'Goal', control: goal }),
      h('div', { class: 'field-row' },
        field({ name: 'agent', label: 'Agent', control: agent, hint: 'simulated: a scripted lifecycle; llm: the coding agent.' }),
        field({ name: 'max_attempts', label: 'Max attempts', control: maxAttempts }),
        field({ name: 'timeout_s', label: 'Timeout (seconds)', control: timeout }),
        field({ name: 'priority', label: 'Priority', control: priority, hint: '-10 to 10; higher starts first among the project\'s waiting runs.' })),
      field({ name: 'params', label: 'Params (JSON object)', control: params, hint: 'simulated: step_delay_ms, fail_attempts, fail. llm: require_approval, model, max_iterations…' }),
      h('div', { class: 'form-actions' }, submit));

    root.append(h('section', { class: 'page page-narrow' },
      h('div', { class: 'page-head' }, h('h1', {}, 'New run')),
      form));

    projects({ fresh: true }).then((list) => {
      const wanted = query.get('project');
      replace(project,
        h('option', { value: '' }, list.length ? 'Choose a project' : 'No projects yet'),
        list.map((p) => h('option', { value: p.id, selected: p.id === wanted }, p.name)));
      if (list.length === 1) project.value = list[0].id;
    }).catch((err) => showError(form, err.message, []));

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const body = { project_id: project.value, goal: goal.value, agent: agent.value };
      try {
        const parsed = parseObject(params.value, 'params');
        if (parsed !== undefined) body.params = parsed;
      } catch (err) {
        showError(form, err.message, FIELDS);
        params.focus();
        return;
      }
      const attempts = number(maxAttempts.value);
      if (attempts !== undefined) body.max_attempts = attempts;
      const seconds = number(timeout.value);
      if (seconds !== undefined) body.timeout_s = seconds;
      const rank = number(priority.value);
      if (rank !== undefined) body.priority = rank;
      if (!body.project_id) {
        showError(form, 'project_id: choose a project', FIELDS);
        return;
      }
      submit.disabled = true;
      try {
        const { data } = await api.post('/v1/runs', body);
        navigate(`/ui/runs/${data.id}`);
      } catch (err) {
        const name = showError(form, err.message, FIELDS);
        if (name) form.querySelector(`[name="${name}"]`)?.focus();
      } finally {
        submit.disabled = false;
      }
    });
  },
};
