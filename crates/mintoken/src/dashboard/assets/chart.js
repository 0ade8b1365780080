// Line charts drawn as inline SVG (no library). Each chart is a <figure> holding an SVG
// with a <title> and <desc> (role="img"), a legend, and a visually hidden table of the
// same figures for screen readers.

import { h, num, uid } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';
// Default drawing size; callers pass the width they have so text is drawn 1:1.
const DEFAULT_WIDTH = 960;
const HEIGHT = 240;
const PAD = { top: 16, right: 24, bottom: 36, left: 72 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A "nice" upper bound for the y axis (1, 2 or 5 × a power of ten). */
function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

/**
 * lineChart({title, labels: [string], series: [{name, values: [number]}], width})
 * `labels` name the x positions (bucket starts, already formatted); `width` is the
 * space available in CSS pixels (the SVG scales, but text stays legible at that size).
 */
export function lineChart({ title, description, labels, series, width = DEFAULT_WIDTH }) {
  const WIDTH = Math.round(Math.max(300, width));
  const titleId = uid('chart-title');
  const descId = uid('chart-desc');
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const all = series.flatMap((se) => se.values);
  const max = niceMax(Math.max(0, ...all));
  const min = Math.min(0, ...all);
  const span = max - min || 1;
  const n = labels.length;
  const x = (i) => PAD.left + (n <= 1 ? innerW / 2 : (i * innerW) / (n - 1));
  const y = (v) => PAD.top + innerH - ((v - min) / span) * innerH;

  const svg = s('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-labelledby': `${titleId} ${descId}`,
    class: 'chart',
  });
  svg.append(s('title', { id: titleId }, title));
  svg.append(s('desc', { id: descId }, description || `${series.map((se) => se.name).join(', ')} per period; the table below has the figures.`));

  // Grid and y labels: 0, half (when a whole number), max, and min when negative.
  const ticks = [...new Set([min, 0, max, ...(Number.isInteger(max / 2) ? [max / 2] : [])])].sort((a, b) => a - b);
  for (const t of ticks) {
    svg.append(s('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(t), y2: y(t), class: 'grid' }));
    svg.append(s('text', { x: PAD.left - 8, y: y(t) + 4, 'text-anchor': 'end', class: 'axis' }, num(t)));
  }
  // X labels: first, middle and last.
  const xTicks = n <= 1 ? [0] : [...new Set([0, Math.floor((n - 1) / 2), n - 1])];
  for (const i of xTicks) {
    if (i >= n) continue;
    const anchor = n <= 1 ? 'middle' : i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle';
    svg.append(s('text', { x: x(i), y: HEIGHT - 10, 'text-anchor': anchor, class: 'axis' }, labels[i]));
  }
  series.forEach((se, k) => {
    const cls = `series series-${k}`;
    if (n === 1) {
      svg.append(s('circle', { cx: x(0), cy: y(se.values[0] || 0), r: 4, class: cls }));
    } else {
      const points = se.values.map((v, i) => `${x(i).toFixed(1)},${y(v || 0).toFixed(1)}`).join(' ');
      svg.append(s('polyline', { points, class: cls, fill: 'none' }));
    }
  });

  const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' },
    series.map((se, k) => h('li', {}, h('span', { class: `swatch swatch-${k}` }), se.name)));

  // Hidden by a wrapper: a table does not shrink to the 1px a hiding class gives it.
  const data = h('table', {},
    h('caption', {}, `${title} (data)`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Period'), series.map((se) => h('th', { scope: 'col' }, se.name)))),
    h('tbody', {}, labels.map((label, i) => h('tr', {},
      h('th', { scope: 'row' }, label),
      series.map((se) => h('td', {}, num(se.values[i])))))));

  return h('figure', { class: 'chart-figure' }, h('figcaption', {}, title), svg, legend,
    h('div', { class: 'visually-hidden' }, data));
}
