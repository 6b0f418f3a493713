// A unified diff (git diff start..head) rendered per file: a header with the
// path and its +/− counts, then each hunk with old/new line numbers and
// added/removed lines coloured.

import { h } from '../lib/dom.js';

/** Splits a unified diff into files: [{path, oldPath, status, hunks: [{header, lines}]}]. */
export function parseDiff(text) {
  const files = [];
  let file = null;
  let hunk = null;
  for (const line of String(text || '').split('\n')) {
    if (line.startsWith('diff --git ')) {
      const m = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
      file = { path: m ? m[2] : line.slice(11), oldPath: m ? m[1] : '', status: 'modified', hunks: [], adds: 0, dels: 0, binary: false };
      files.push(file);
      hunk = null;
    } else if (!file) {
      continue;
    } else if (line.startsWith('@@')) {
      const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/.exec(line);
      hunk = { header: line, oldLine: m ? Number(m[1]) : 0, newLine: m ? Number(m[2]) : 0, lines: [] };
      file.hunks.push(hunk);
    } else if (hunk) {
      if (line.startsWith('+')) { hunk.lines.push({ type: 'add', text: line.slice(1) }); file.adds += 1; }
      else if (line.startsWith('-')) { hunk.lines.push({ type: 'del', text: line.slice(1) }); file.dels += 1; }
      else if (line.startsWith(' ')) hunk.lines.push({ type: 'ctx', text: line.slice(1) });
      else if (line.startsWith('\\')) hunk.lines.push({ type: 'note', text: line });
    } else if (line.startsWith('new file')) file.status = 'added';
    else if (line.startsWith('deleted file')) file.status = 'deleted';
    else if (line.startsWith('rename from')) file.status = 'renamed';
    else if (line.startsWith('Binary files')) file.binary = true;
  }
  return files;
}

function hunkRows(hunk) {
  let oldNo = hunk.oldLine;
  let newNo = hunk.newLine;
  const rows = [h('tr', { class: 'diff-hunk' }, h('td', { class: 'ln', colspan: 2 }), h('td', { class: 'code' }, hunk.header))];
  for (const line of hunk.lines) {
    const o = line.type === 'add' || line.type === 'note' ? '' : oldNo++;
    const n = line.type === 'del' || line.type === 'note' ? '' : newNo++;
    const sign = { add: '+', del: '−', ctx: ' ', note: '' }[line.type];
    rows.push(h('tr', { class: `diff-line ${line.type}` },
      h('td', { class: 'ln' }, String(o)),
      h('td', { class: 'ln' }, String(n)),
      h('td', { class: 'code' }, h('span', { class: 'sign', 'aria-hidden': 'true' }, sign), line.text)));
  }
  return rows;
}

/** The diff view: a summary line and one collapsible block per file. */
export function diffView(text, { truncated = false } = {}) {
  const files = parseDiff(text);
  if (!files.length) return h('p', { class: 'empty' }, 'The run changed no files.');
  const adds = files.reduce((n, f) => n + f.adds, 0);
  const dels = files.reduce((n, f) => n + f.dels, 0);
  return h('div', { class: 'diff', id: 'diff' },
    h('p', { class: 'diff-summary' },
      `${files.length} file${files.length === 1 ? '' : 's'} changed `,
      h('span', { class: 'adds' }, `+${adds}`), ' ', h('span', { class: 'dels' }, `−${dels}`),
      truncated ? h('span', { class: 'muted' }, ' (diff truncated)') : null),
    files.map((f) => h('details', { class: 'diff-file', open: true, dataset: { path: f.path } },
      h('summary', {},
        h('span', { class: 'diff-path' }, f.status === 'renamed' ? `${f.oldPath} → ${f.path}` : f.path),
        f.status !== 'modified' ? h('span', { class: `tag tag-${f.status}` }, f.status) : null,
        h('span', { class: 'diff-counts' }, h('span', { class: 'adds' }, `+${f.adds}`), ' ', h('span', { class: 'dels' }, `−${f.dels}`))),
      f.binary
        ? h('p', { class: 'muted diff-binary' }, 'Binary file')
        : h('div', { class: 'diff-scroll' }, h('table', { class: 'diff-table' }, h('tbody', {}, f.hunks.map(hunkRows)))))));
}
