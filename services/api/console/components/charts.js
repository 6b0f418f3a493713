// Small inline SVG charts drawn from numbers (no chart library): stacked bars
// per time bucket and lines with gaps where a bucket has no value. Both scale
// to their container's width through the viewBox.

import { svg, h } from '../lib/dom.js';

const W = 640;
const H = 180;
const PAD = { top: 12, right: 12, bottom: 24, left: 44 };

function niceMax(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

function frame(title, max, format, labels) {
  const plotH = H - PAD.top - PAD.bottom;
  const grid = [0, 0.5, 1].map((f) => {
    const y = PAD.top + plotH * (1 - f);
    return svg('g', { class: 'grid' },
      svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }),
      svg('text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, format(max * f)));
  });
  const xLabels = labels.map(([x, text, anchor]) => svg('text', { x, y: H - 6, 'text-anchor': anchor, class: 'axis' }, text));
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title, preserveAspectRatio: 'none' },
    svg('title', {}, title), ...grid, ...xLabels);
}

function timeLabels(buckets, x) {
  if (!buckets.length) return [];
  const fmt = (iso) => new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
  const last = buckets.length - 1;
  const mid = Math.floor(last / 2);
  return [[x(0), fmt(buckets[0].start), 'start'], [x(mid), fmt(buckets[mid].start), 'middle'], [x(last) , 'now', 'end']];
}

/** Stacked bars: series [{key, label, cls}] read from each bucket. */
export function barChart(title, buckets, series) {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const totals = buckets.map((b) => series.reduce((n, s) => n + (b[s.key] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const slot = plotW / Math.max(1, buckets.length);
  const x = (i) => PAD.left + slot * i + slot / 2;
  const chart = frame(title, max, (v) => String(Math.round(v)), timeLabels(buckets, x));
  buckets.forEach((b, i) => {
    let y = PAD.top + plotH;
    for (const s of series) {
      const value = b[s.key] || 0;
      if (!value) continue;
      const height = (value / max) * plotH;
      y -= height;
      chart.append(svg('rect', { x: PAD.left + slot * i + slot * 0.15, y, width: slot * 0.7, height, class: `bar ${s.cls}` },
        svg('title', {}, `${new Date(b.start).toLocaleTimeString()}: ${value} ${s.label}`)));
    }
  });
  return chart;
}

/** Lines: series [{key, label, cls}]; null values leave a gap. */
export function lineChart(title, buckets, series, format) {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const values = buckets.flatMap((b) => series.map((s) => b[s.key])).filter((v) => typeof v === 'number');
  const max = niceMax(Math.max(0, ...values));
  const step = plotW / Math.max(1, buckets.length - 1);
  const x = (i) => PAD.left + step * i;
  const y = (v) => PAD.top + plotH * (1 - v / max);
  const chart = frame(title, max, format, timeLabels(buckets, x));
  for (const s of series) {
    let d = '';
    let pen = false;
    buckets.forEach((b, i) => {
      const v = b[s.key];
      if (typeof v !== 'number') {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      chart.append(svg('circle', { cx: x(i), cy: y(v), r: 2.5, class: `dot ${s.cls}` }, svg('title', {}, `${s.label}: ${format(v)}`)));
    });
    if (d) chart.insertBefore(svg('path', { d, class: `line ${s.cls}` }), chart.querySelector('circle'));
  }
  return chart;
}

/** A legend for a chart's series. */
export function legend(series) {
  return h('ul', { class: 'legend' }, series.map((s) => h('li', {}, h('span', { class: `swatch ${s.cls}`, 'aria-hidden': 'true' }), s.label)));
}
