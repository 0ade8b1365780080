// Plan: the account's plan, its limits, this month's usage and active keys, and — when
// the server sells plans — upgrade buttons that pay through Razorpay Checkout. Also home
// of the quota bar, which the analytics page shows too.

import { api, session } from './api.js';
import { alertBox, errorMessage, h, loading, num, pageHeading, replace, table, time } from './ui.js';

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
  // Outside `body`, so the outcome of a payment stays on screen while the plan reloads.
  const notice = h('p', { role: 'status', class: 'notice' });
  notice.hidden = true;
  main.append(pageHeading('Plan'), notice, body);
  const load = () => Promise.all([
    api('GET', '/v1/plan'),
    // An older server has no billing routes: that is "not configured".
    api('GET', '/v1/billing/razorpay/config').catch(() => ({ configured: false, prices: {} })),
  ]).then(([plan, billing]) => {
    if (!isCurrent()) return;
    const l = plan.limits;
    const u = plan.usage;
    replace(body,
      h('section', { class: 'card', 'aria-labelledby': 'plan-current' },
        h('h2', { id: 'plan-current' }, 'Current plan: ', h('span', { class: 'plan-name' }, plan.plan)),
        quotaBar(plan),
        h('p', {}, 'Active keys: ', h('strong', {}, `${num(u.active_keys)} of ${num(l.max_keys)}`)),
        h('p', { class: 'hint' }, 'This month began on ', time(u.period_start, { utcDate: true }), ' (UTC). The quota counts output tokens only and resets on the first of each month, 00:00 UTC.')),
      upgradeSection(plan.plan, billing, (message) => {
        notice.textContent = message;
        notice.hidden = false;
        load();
      }),
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
      ]));
  }).catch((e) => {
    if (isCurrent()) replace(body, h('p', { role: 'alert', class: 'alert' }, `Could not load your plan: ${errorMessage(e)}`));
  });
  load();
}

// ---- upgrades through Razorpay ---------------------------------------------------------

/** The built-in plans, lowest first: only a higher one is offered (the server agrees). */
const RANKS = ['free', 'pro', 'team', 'enterprise'];
/** Loaded only when the user clicks an upgrade button (the CSP allows this one host). */
const CHECKOUT_URL = 'https://checkout.razorpay.com/v1/checkout.js';
let checkoutLoading = null;

function rupees(paise) {
  return new Intl.NumberFormat('en-IN', { style: 'currency', currency: 'INR' }).format(Number(paise) / 100);
}

function title(plan) {
  return plan.charAt(0).toUpperCase() + plan.slice(1);
}

/** Razorpay Checkout's script, once per page; a test may have put `window.Razorpay` there. */
function loadCheckout() {
  if (window.Razorpay) return Promise.resolve();
  if (!checkoutLoading) {
    checkoutLoading = new Promise((resolve, reject) => {
      const script = h('script', { src: CHECKOUT_URL, async: true });
      script.addEventListener('load', () => (window.Razorpay ? resolve() : reject(new Error('Razorpay Checkout did not start; reload the page and try again.'))));
      script.addEventListener('error', () => {
        checkoutLoading = null;
        script.remove();
        reject(new Error('Could not load Razorpay Checkout from checkout.razorpay.com; check your connection and try again.'));
      });
      document.head.append(script);
    });
  }
  return checkoutLoading;
}

/** Opens Checkout for the order; resolves with the handler's response, or null if dismissed. */
function pay(order) {
  return new Promise((resolve, reject) => {
    try {
      const checkout = new window.Razorpay({
        key: order.key_id,
        amount: order.amount,
        currency: order.currency,
        order_id: order.order_id,
        name: 'mintoken',
        description: `${title(order.plan)} plan`,
        prefill: { email: (session() || {}).email || '' },
        handler: (response) => resolve(response),
        modal: { ondismiss: () => resolve(null) },
      });
      if (typeof checkout.on === 'function') {
        checkout.on('payment.failed', (answer) => {
          const reason = answer && answer.error && answer.error.description;
          reject(new Error(`The payment failed${reason ? `: ${reason}` : ''}. Your plan is unchanged; you can try again.`));
        });
      }
      checkout.open();
    } catch (e) {
      reject(e);
    }
  });
}

function upgradeSection(current, billing, onUpgraded) {
  const heading = h('h2', { id: 'plan-upgrade' }, 'Upgrade');
  const section = (...children) => h('section', { class: 'card', 'aria-labelledby': 'plan-upgrade' }, heading, ...children);
  if (!billing || !billing.configured) {
    return section(h('p', { class: 'hint' }, 'Paid upgrades are not available on this server. To change plan, ask the server’s administrator.'));
  }
  const rank = RANKS.indexOf(current);
  const offers = Object.entries(billing.prices || {})
    .filter(([plan]) => rank >= 0 && RANKS.indexOf(plan) > rank)
    .sort((a, b) => RANKS.indexOf(a[0]) - RANKS.indexOf(b[0]));
  if (offers.length === 0) {
    return section(h('p', { class: 'hint' }, 'No higher plan can be bought here. To change plan, ask the server’s administrator.'));
  }
  const error = alertBox();
  const status = h('p', { role: 'status', class: 'hint' });
  const buttons = offers.map(([plan, paise]) => h('button', {
    type: 'button',
    'data-plan': plan,
    onclick: () => buy(plan),
  }, `Upgrade to ${title(plan)} — ${rupees(paise)}`));
  const busy = (on) => { for (const b of buttons) b.disabled = on; };

  async function buy(plan) {
    error.clear();
    busy(true);
    status.textContent = 'Creating your order…';
    try {
      const order = await api('POST', '/v1/billing/razorpay/order', { plan });
      status.textContent = 'Opening Razorpay Checkout…';
      await loadCheckout();
      const paid = await pay(order);
      if (!paid) {
        status.textContent = 'Payment cancelled; your plan is unchanged.';
        busy(false);
        return;
      }
      status.textContent = 'Confirming your payment…';
      const done = await api('POST', '/v1/billing/razorpay/verify', {
        razorpay_order_id: paid.razorpay_order_id,
        razorpay_payment_id: paid.razorpay_payment_id,
        razorpay_signature: paid.razorpay_signature,
      });
      onUpgraded(`Payment received: you are now on the ${title(done.plan)} plan.`);
    } catch (e) {
      status.textContent = '';
      error.show(`Could not upgrade: ${errorMessage(e)}`);
      busy(false);
    }
  }

  return section(
    h('p', {}, 'Pay once with Razorpay (cards, UPI, netbanking, wallets); the new limits apply from your next request.'),
    h('div', { class: 'actions' }, buttons),
    status,
    error.el);
}
