// Plan: the account's plan, its limits, this month's usage and active keys. Also home of
// the quota bar, which the analytics page shows too.

import { api } from './api.js';
import { errorMessage, h, loading, num, pageHeading, replace, table, time } from './ui.js';

/** The monthly output-token quota as a progress bar ("unlimited" when there is none). */
export function quotaBar(plan) {
  const used = Number(plan.usage.output_tokens) || 0;
  const limit = plan.usage.output_tokens_limit;
  const labelId = `quota-label-${Math.random().toString(36).slice(2, 8)}`;
  const label = h('span', { id: labelId, class: 'quota-label' }, 'Output tokens this month');
  if (limit === null || limit === undefined || Number(limit) <= 0) {
    const bar = h('div', {
      role: 'progressbar',
      'aria-labelledby': labelId,
      'aria-valuemin': '0',
      'aria-valuenow': String(used),
      'aria-valuetext': `${num(used)} used, unlimited`,
      class: 'quota-bar unlimited',
    }, h('div', { class: 'quota-fill' }));
    return h('div', { class: 'quota' }, label, bar, h('p', { class: 'quota-text' }, `${num(used)} used · unlimited`));
  }
  const percent = Math.min(100, (used / Number(limit)) * 100);
  const fill = h('div', { class: 'quota-fill' });
  // CSSOM, not a style attribute: allowed by the Content-Security-Policy.
  fill.style.width = `${percent}%`;
  const level = percent >= 100 ? 'full' : percent >= 80 ? 'high' : '';
  const bar = h('div', {
    role: 'progressbar',
    'aria-labelledby': labelId,
    'aria-valuemin': '0',
    'aria-valuemax': String(limit),
    'aria-valuenow': String(Math.min(used, Number(limit))),
    'aria-valuetext': `${num(used)} of ${num(limit)} (${percent.toFixed(1)} %)`,
    class: `quota-bar ${level}`,
  }, fill);
  return h('div', { class: 'quota' }, label, bar,
    h('p', { class: 'quota-text' }, `${num(used)} of ${num(limit)} used (${percent.toFixed(1)} %)`,
      percent >= 100 ? ' — quota used up: requests are refused until next month.' : ''));
}

/** Decimal units, as the plan table of the documentation writes them (100 KB = 100,000 bytes). */
function bytes(n) {
  if (n >= 1_000_000) return `${num(Math.round(n / 100_000) / 10)} MB`;
  if (n >= 1_000) return `${num(Math.round(n / 100) / 10)} KB`;
  return `${num(n)} bytes`;
}

function yesNo(b) {
  return b ? 'Yes' : 'No';
}

export function render(main, { isCurrent }) {
  const body = h('div', {}, loading('Loading your plan…'));
  main.append(pageHeading('Plan'), body);
  api('GET', '/v1/plan').then((plan) => {
    if (!isCurrent()) return;
    const l = plan.limits;
    const u = plan.usage;
    replace(body,
      h('section', { class: 'card', 'aria-labelledby': 'plan-current' },
        h('h2', { id: 'plan-current' }, 'Current plan: ', h('span', { class: 'plan-name' }, plan.plan)),
        quotaBar(plan),
        h('p', {}, 'Active keys: ', h('strong', {}, `${num(u.active_keys)} of ${num(l.max_keys)}`)),
        h('p', { class: 'hint' }, 'This month began on ', time(u.period_start, { utcDate: true }), ' (UTC). The quota counts output tokens only and resets on the first of each month, 00:00 UTC.')),
      table('Plan limits', ['Limit', 'Value'], [
        ['Output tokens per month', Number(l.monthly_output_tokens) > 0 ? num(l.monthly_output_tokens) : 'Unlimited'],
        ['Requests per minute', num(l.requests_per_minute)],
        ['Active keys', num(l.max_keys)],
        ['Custom rules', num(l.max_rules)],
        ['Organizations', num(l.max_orgs)],
        ['Members per organization', num(l.max_members_per_org)],
        ['Smart detection', yesNo(l.smart_detection)],
        ['Input compression', yesNo(l.input_compression)],
        ['Largest request body', bytes(Number(l.max_body_bytes))],
      ]),
      h('p', { class: 'hint' }, 'To change plan, ask the server’s administrator.'));
  }).catch((e) => {
    if (isCurrent()) replace(body, h('p', { role: 'alert', class: 'alert' }, `Could not load your plan: ${errorMessage(e)}`));
  });
}
