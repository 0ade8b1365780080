// Upgrading on the Plan page: the order is created by the server, Razorpay Checkout is
// opened with it, and its success handler's answer is verified by the server. Checkout is
// stubbed (`window.Razorpay`, before any page script runs): the stub "pays" by calling the
// handler with a payment id and the signature Razorpay would compute — HMAC-SHA256 of
// `order_id|payment_id` with the fake Razorpay's key secret, computed here in node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  BASE_URL,
  apiSignup,
  expectVisible,
  failureScreenshot,
  loginThroughUi,
  navLink,
  openBrowser,
  screenshot,
  uniqueEmail,
} from './lib.mjs';

const KEY_ID = process.env.RAZORPAY_KEY_ID;
const KEY_SECRET = process.env.RAZORPAY_KEY_SECRET;

/** A Checkout stand-in: records its options; `open()` pays (or forges a payment). */
function stubCheckout(mode) {
  window.__checkoutOptions = [];
  window.Razorpay = class {
    constructor(options) {
      this.options = options;
      window.__checkoutOptions.push({ key: options.key, amount: options.amount, currency: options.currency, order_id: options.order_id });
    }
    on() {}
    open() {
      const paymentId = `pay_E2e${Date.now()}`;
      window.__signPayment(this.options.order_id, paymentId, mode).then((signature) => {
        this.options.handler({ razorpay_payment_id: paymentId, razorpay_order_id: this.options.order_id, razorpay_signature: signature });
      });
    }
  };
}

async function withCheckout(name, mode, fn) {
  assert.ok(KEY_ID && KEY_SECRET, 'RAZORPAY_KEY_ID / RAZORPAY_KEY_SECRET are set by tests/e2e/run');
  const browser = await openBrowser();
  const { page } = browser;
  const external = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(BASE_URL)) external.push(req.url());
  });
  await page.exposeFunction('__signPayment', (orderId, paymentId, how) => {
    const secret = how === 'forge' ? 'not-the-secret' : KEY_SECRET;
    return createHmac('sha256', secret).update(`${orderId}|${paymentId}`).digest('hex');
  });
  await page.addInitScript(stubCheckout, mode);
  try {
    await fn(page);
    assert.deepEqual(external, [], 'Checkout was stubbed: nothing was loaded from another origin');
  } catch (e) {
    await failureScreenshot(page, name);
    if (browser.consoleErrors.length) console.error(`  browser console errors:\n    ${browser.consoleErrors.join('\n    ')}`);
    throw e;
  } finally {
    await browser.close();
  }
}

async function openPlanPage(page) {
  const email = uniqueEmail('billing');
  await apiSignup(email);
  await loginThroughUi(page, email);
  await navLink(page, 'Plan').click();
  await expectVisible(page.getByRole('heading', { name: /Current plan: free/ }), 'the free plan');
}

test('paying for Pro in Checkout moves the account to Pro', async () => {
  await withCheckout('billing-upgrade', 'pay', async (page) => {
    await openPlanPage(page);
    const buy = page.getByRole('button', { name: 'Upgrade to Pro — ₹499.00' });
    await expectVisible(buy, 'an upgrade button with the price');
    await expectVisible(page.getByRole('button', { name: /^Upgrade to Team — ₹1,999\.00$/ }), 'the Team upgrade');
    await screenshot(page, 'plan-upgrade');
    await buy.click();
    await expectVisible(page.getByText('Payment received: you are now on the Pro plan.'), 'the success notice');
    await expectVisible(page.getByRole('heading', { name: /Current plan: pro/ }), 'the new plan');
    // Checkout was opened with the server's order.
    const opened = await page.evaluate(() => window.__checkoutOptions);
    assert.equal(opened.length, 1);
    assert.equal(opened[0].key, KEY_ID);
    assert.equal(opened[0].amount, 49900);
    assert.equal(opened[0].currency, 'INR');
    assert.match(opened[0].order_id, /^order_/);
    // Pro is no longer on offer; Team still is.
    assert.equal(await page.getByRole('button', { name: /Upgrade to Pro/ }).count(), 0);
    await expectVisible(page.getByRole('button', { name: /Upgrade to Team/ }), 'Team still on offer');
    // The limits changed with the plan.
    await expectVisible(page.getByRole('cell', { name: '2,000,000', exact: true }), "Pro's monthly output tokens");
  });
});

test('a forged payment is refused and the plan stays free', async () => {
  await withCheckout('billing-forged', 'forge', async (page) => {
    await openPlanPage(page);
    await page.getByRole('button', { name: /Upgrade to Pro/ }).click();
    const alert = page.getByRole('alert').filter({ hasText: /signature does not match/ });
    await expectVisible(alert, 'the refusal');
    await expectVisible(page.getByRole('heading', { name: /Current plan: free/ }), 'still free');
    assert.equal(await page.getByRole('button', { name: /Upgrade to Pro/ }).isEnabled(), true, 'the button works again');
  });
});
