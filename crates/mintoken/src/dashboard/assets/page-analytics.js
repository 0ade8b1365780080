// Analytics for the current UTC month: quota, summary, a time series (bucket chosen by
// the user), usage per key and savings per model. Savings are labelled exactly as the
// API labels them: "measured" only where a holdout measurement backs the figure.

import { api } from './api.js';
import { lineChart } from './chart.js';
import { quotaBar } from './page-plan.js';
import { errorMessage, field, formatDate, h, loading, num, pageHeading, replace, table, usd } from './ui.js';

const BASIS_TEXT = {
  measured: 'measured',
  estimated: 'estimated',
  mixed: 'mixed (measured + estimated)',
  none: 'none',
};

function basisBadge(basis) {
  return h('span', { class: `badge basis-${basis}` }, BASIS_TEXT[basis] || basis);
}

function bucketLabel(iso, bucket) {
  if (bucket === 'hour') return formatDate(iso, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
  const day = formatDate(iso, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  return bucket === 'week' ? `Week of ${day}` : day;
}

function percent(x) {
  return `${(x * 100).toFixed(1)} %`;
}

export function render(main, { isCurrent }) {
  const quota = h('div', {}, loading('Loading…'));
  const summary = h('div', {});
  const chartArea = h('div', {});
  const byKey = h('div', {});
  const savings = h('div', {});
  const bucket = field('Bucket', 'select', {}, [['hour', 'Hour'], ['day', 'Day'], ['week', 'Week']]);
  bucket.input.value = 'day';
  main.append(
    pageHeading('Analytics'),
    h('p', { class: 'lead' }, 'This month (UTC). Tokens saved = output tokens the skill saved + context-compression savings − the input tokens the skill costs; it can be negative on short answers. Output savings are estimated until a key’s holdout measures them.'),
    quota,
    summary,
    h('section', { 'aria-labelledby': 'over-time' }, h('div', { class: 'page-head' }, h('h2', { id: 'over-time' }, 'Over time'), bucket.wrap), chartArea),
    h('section', { 'aria-labelledby': 'per-key' }, h('h2', { id: 'per-key' }, 'Per key'), byKey),
    h('section', { 'aria-labelledby': 'per-model' }, h('h2', { id: 'per-model' }, 'Per model'), savings),
  );

  const failed = (where) => (e) => {
    if (isCurrent()) replace(where, h('p', { role: 'alert', class: 'alert' }, `Could not load: ${errorMessage(e)}`));
  };

  api('GET', '/v1/plan').then((plan) => { if (isCurrent()) replace(quota, quotaBar(plan)); }).catch(failed(quota));

  let hasUsage = null;
  const summaryLoaded = api('GET', '/v1/analytics/summary').then((s) => {
    if (!isCurrent()) return;
    hasUsage = s.total_requests > 0;
    drawSummary(summary, s);
  }).catch(failed(summary));

  async function loadSeries() {
    replace(chartArea, loading('Loading the chart…'));
    try {
      const [series] = await Promise.all([
        api('GET', `/v1/analytics/timeseries?bucket=${encodeURIComponent(bucket.input.value)}`),
        summaryLoaded,
      ]);
      if (!isCurrent()) return;
      if (hasUsage === false) {
        replace(chartArea, h('p', { class: 'empty' }, 'No usage yet'),
          h('p', { class: 'hint' }, 'Send a request through the proxy, or try the Playground, and it shows up here.'));
        return;
      }
      drawSeries(chartArea, series);
    } catch (e) {
      failed(chartArea)(e);
    }
  }
  bucket.input.addEventListener('change', loadSeries);
  loadSeries();

  api('GET', '/v1/analytics/by-key').then((data) => { if (isCurrent()) drawByKey(byKey, data); }).catch(failed(byKey));
  api('GET', '/v1/analytics/savings').then((data) => { if (isCurrent()) drawSavings(savings, data); }).catch(failed(savings));
}

function figure(label, value, extra) {
  return h('div', { class: 'figure' }, h('dt', {}, label), h('dd', {}, h('span', { class: 'figure-value' }, value), extra || ''));
}

export function drawSummary(el, s) {
  const basis = s.savings_basis;
  const label = h('span', { class: 'figure-note' }, basisBadge(basis), s.estimated ? h('span', { class: 'visually-hidden' }, ' (includes an estimate)') : '');
  replace(el, h('dl', { class: 'figures' },
    figure('Requests', num(s.total_requests)),
    figure('Input tokens', num(s.total_input_tokens)),
    figure('Output tokens', num(s.total_output_tokens)),
    figure('Tokens saved', num(s.total_tokens_saved), label),
    figure('Money saved (USD)', usd(s.total_cost_saved_usd), h('span', { class: 'figure-note' }, basisBadge(basis)))),
  h('p', { class: 'hint' },
    `Output tokens saved: ${num(s.output_tokens_saved)} (measured ${num(s.output_tokens_saved_measured)}, estimated ${num(s.output_tokens_saved_estimated)}); `,
    `context tokens saved: ${num(s.context_tokens_saved)}; skill input tokens: ${num(s.skill_input_tokens)}. `,
    s.cost && s.cost.unpriced_models && s.cost.unpriced_models.length
      ? `Models without a price count as $0: ${s.cost.unpriced_models.join(', ')}. `
      : '',
    s.cost && s.cost.prices_as_of ? `Prices as of ${s.cost.prices_as_of}.` : ''));
}

function drawSeries(el, series) {
  const buckets = series.buckets || [];
  const labels = buckets.map((b) => bucketLabel(b.start, series.bucket));
  const per = series.bucket === 'hour' ? 'hour' : series.bucket === 'week' ? 'week' : 'day';
  // The figure's padding and border (2 × 17 px) come off the area's width.
  const width = Math.min(1100, (el.clientWidth || 960) - 34);
  replace(el,
    lineChart({
      title: `Requests per ${per}`,
      labels,
      series: [{ name: 'Requests', values: buckets.map((b) => b.requests) }],
      width,
    }),
    lineChart({
      title: `Tokens per ${per}`,
      labels,
      series: [
        { name: 'Input tokens', values: buckets.map((b) => b.input_tokens) },
        { name: 'Output tokens', values: buckets.map((b) => b.output_tokens) },
        { name: 'Tokens saved', values: buckets.map((b) => b.tokens_saved) },
      ],
      width,
    }));
}

function drawByKey(el, data) {
  const keys = data.keys || [];
  if (!keys.length) {
    replace(el, h('p', { class: 'empty' }, 'No keys with usage in this period.'));
    return;
  }
  replace(el, table('Usage by key',
    ['Key', 'Prefix', 'Status', 'Requests', 'Input tokens', 'Output tokens', 'Tokens saved', 'Money saved (USD)', 'Basis'],
    keys.map((k) => [
      k.name || k.id,
      k.key_prefix ? h('code', {}, k.key_prefix) : '—',
      k.is_active ? 'Active' : 'Revoked',
      num(k.requests),
      num(k.input_tokens),
      num(k.output_tokens),
      num(k.tokens_saved),
      usd(k.cost_saved_usd),
      basisBadge(k.savings_basis),
    ])));
}

function drawSavings(el, data) {
  const groups = data.groups || [];
  if (!groups.length) {
    replace(el, h('p', { class: 'empty' }, 'No requests in this period.'));
    return;
  }
  const rows = groups.map((g) => {
    const m = g.measured;
    const label = g.basis === 'measured' ? 'Measured' : g.basis === 'estimated' ? 'Estimated' : 'None';
    let reduction = '—';
    if (m) {
      const [lo, hi] = m.reduction_ci95;
      reduction = h('span', {}, percent(m.reduction), h('br'), h('small', {}, `95 % interval ${percent(lo)} to ${percent(hi)}`),
        m.sufficient ? '' : h('small', { class: 'muted' }, h('br'), 'too few samples: the estimate is used'));
    } else if (g.estimated) {
      reduction = h('span', {}, `expected ${percent(g.estimated.expected_ratio)}`);
    }
    const samples = m
      ? `${num(m.treated.requests)} treated / ${num(m.holdout.requests)} holdout`
      : `${num(g.treated_requests)} treated / ${num(g.holdout_requests)} holdout`;
    return [
      g.provider,
      g.model,
      g.intensity,
      num(g.requests),
      h('span', { class: `badge basis-${g.basis}` }, label),
      num(g.output_tokens_saved),
      reduction,
      samples,
      num(g.net_tokens_saved),
      g.net_cost_saved_usd === null ? 'unpriced' : usd(g.net_cost_saved_usd),
    ];
  });
  replace(el, table('Savings by model',
    ['Provider', 'Model', 'Intensity', 'Requests', 'Basis', 'Output tokens saved', 'Output reduction', 'Samples', 'Net tokens saved', 'Net saved (USD)'],
    rows),
  h('p', { class: 'hint' }, `A measurement replaces the estimate once both groups have ${data.method ? data.method.min_samples_per_group : 30} requests. Give a key a holdout % to measure.`));
}
