// Form field errors: a 422 message names its field at its start
// ("timeout_s must be at most 3600…", "params: …"); the message is shown
// under that field, or at the top of the form when no field matches.

import { h, replace } from '../lib/dom.js';

/**
 * A labelled field: {name, label, control, hint, prefix} → wrapper with an
 * error slot. Ids are `${prefix}field-${name}` and `${prefix}error-${name}`,
 * so that two forms on one page keep them unique.
 */
export function field({ name, label, control, hint, prefix = '' }) {
  control.id = control.id || `${prefix}field-${name}`;
  control.name = name;
  const errorId = `${prefix}error-${name}`;
  const hintId = `${prefix}hint-${name}`;
  const error = h('div', { class: 'field-error', id: errorId, role: 'alert' });
  control.setAttribute('aria-describedby', `${errorId}${hint ? ` ${hintId}` : ''}`);
  return h('div', { class: 'field', dataset: { field: name } },
    h('label', { for: control.id }, label),
    control,
    hint ? h('div', { class: 'field-hint', id: hintId }, hint) : null,
    error);
}

/** Clears every error of the form (fields and the top slot). */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.replaceChildren();
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/**
 * The field a message is about: the longest field name the message starts
 * with, also after a leading "invalid " or "unknown " ("invalid params: …",
 * "unknown agent `x`").
 */
export function fieldOf(message, names) {
  const text = String(message || '').replace(/^(invalid|unknown) /, '');
  return names
    .filter((name) => text.startsWith(name) && !/[a-z_]/.test(text.charAt(name.length)))
    .sort((a, b) => b.length - a.length)[0];
}

/** Shows `message` next to its field in `form`, or in the form's top slot. */
export function showError(form, message, names) {
  const name = fieldOf(message, names);
  const slot = name && form.querySelector(`[data-field="${name}"] .field-error`);
  if (slot) {
    replace(slot, message);
    form.querySelector(`[name="${name}"]`)?.setAttribute('aria-invalid', 'true');
    return name;
  }
  replace(form.querySelector('.form-error'), message);
  return null;
}

/** Parses a JSON object from a textarea; '' gives `empty`. Throws a message. */
export function parseObject(text, name, empty = undefined) {
  const trimmed = text.trim();
  if (!trimmed) return empty;
  let value;
  try {
    value = JSON.parse(trimmed);
  } catch (err) {
    throw new Error(`${name} is not valid JSON: ${err.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${name} must be a JSON object, like {"key": "value"}`);
  }
  return value;
}
