// Focused cases, each with its own user and its own fresh browser: a wrong password,
// keyboard-only key creation, a 360 px wide phone, and the playground's provider key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL,
  MOCK_URL,
  NARROW,
  PASSWORD,
  apiCreateKey,
  apiSignup,
  cellText,
  eventually,
  expectHidden,
  expectVisible,
  failureScreenshot,
  hasFocus,
  loginThroughUi,
  navLink,
  openBrowser,
  screenshot,
  setMockBehavior,
  storageAndUrl,
  tabTo,
  uniqueEmail,
} from './lib.mjs';
import { randomBytes } from 'node:crypto';

/** Runs `fn` with a fresh browser; keeps a screenshot when it fails. */
async function withBrowser(name, options, fn) {
  const browser = await openBrowser(options);
  try {
    await fn(browser.page, browser);
  } catch (e) {
    await failureScreenshot(browser.page, name);
    if (browser.consoleErrors.length) console.error(`  browser console errors:\n    ${browser.consoleErrors.join('\n    ')}`);
    throw e;
  } finally {
    await browser.close();
  }
}

const dialogWith = (page, heading) =>
  page.getByRole('dialog').filter({ has: page.getByRole('heading', { name: heading, exact: true }) });

test('a wrong password shows an alert and stays on "Log in"', async () => {
  const email = uniqueEmail('wrongpw');
  await apiSignup(email);
  await withBrowser('wrong-password', {}, async (page) => {
    await page.goto(`${BASE_URL}/`);
    await expectVisible(page.getByRole('heading', { name: 'Log in', exact: true }), 'login heading');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill('not the right password');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    const alert = page.getByRole('alert').filter({ hasText: /\S/ });
    await expectVisible(alert, 'an alert after a wrong password');
    await expectVisible(page.getByRole('heading', { name: 'Log in', exact: true }), 'still on the login page');
    assert.equal(await page.getByRole('navigation').count(), 0, 'no navigation: not logged in');
    // The right password still works afterwards.
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await expectVisible(page.getByRole('heading', { name: 'API keys', exact: true }), 'keys page after the right password');
  });
});

test('a key can be created with the keyboard only (Tab, Enter, Escape)', async () => {
  const email = uniqueEmail('keyboard');
  await apiSignup(email);
  await withBrowser('keyboard', {}, async (page) => {
    await loginThroughUi(page, email);
    const newKey = page.getByRole('button', { name: 'New key', exact: true });

    // Open with Enter; focus moves into the dialog; Escape closes it and creates nothing.
    await tabTo(page, newKey);
    await page.keyboard.press('Enter');
    const dialog = dialogWith(page, 'New key');
    await expectVisible(dialog, '"New key" dialog opened with Enter');
    await eventually(() => hasFocus(dialog), 'the focus is inside the "New key" dialog');
    await page.keyboard.press('Escape');
    await expectHidden(dialog, 'Escape closes the "New key" dialog');
    await eventually(() => hasFocus(newKey), 'the focus returns to "New key" after Escape');

    // Again, and this time create it: Tab to the fields and the button, type, Enter.
    await page.keyboard.press('Enter');
    await expectVisible(dialog, '"New key" dialog opened again');
    await tabTo(page, dialog.getByRole('textbox', { name: 'Name', exact: true }));
    await page.keyboard.type('keyboard-key');
    await tabTo(page, dialog.getByRole('button', { name: 'Create key', exact: true }));
    await page.keyboard.press('Enter');

    const shown = dialogWith(page, 'Your new API key');
    await expectVisible(shown, '"Your new API key" dialog');
    await eventually(() => hasFocus(shown), 'the focus is inside the raw-key dialog');
    await tabTo(page, shown.getByRole('button', { name: 'Done', exact: true }));
    await page.keyboard.press('Enter');
    await expectHidden(shown, 'Enter on "Done" closes the raw-key dialog');

    const table = page.getByRole('table', { name: 'Your API keys' });
    await expectVisible(table.getByRole('row').filter({ hasText: 'keyboard-key' }), 'the new key in the table');
    assert.equal((await cellText(table, 'keyboard-key', 'status')).text, 'Active');

    // The revoke dialog: opened with Enter, closed with Escape, nothing revoked.
    await tabTo(page, page.getByRole('button', { name: 'Revoke keyboard-key', exact: true }));
    await page.keyboard.press('Enter');
    const revoke = dialogWith(page, 'Revoke key?');
    await expectVisible(revoke, '"Revoke key?" dialog opened with Enter');
    await page.keyboard.press('Escape');
    await expectHidden(revoke, 'Escape closes the revoke dialog');
    assert.equal((await cellText(table, 'keyboard-key', 'status')).text, 'Active', 'Escape revoked nothing');
  });
});

test('a 360 px wide viewport shows the keys page without horizontal overflow', async () => {
  // Shown in the screenshot; the data directory is new on every run.
  const email = 'phone@example.com';
  const session = await apiSignup(email);
  await apiCreateKey(session.access_token, { name: 'phone-with-a-long-key-name', intensity: 'lite' });
  await withBrowser('narrow', { viewport: NARROW }, async (page) => {
    await loginThroughUi(page, email);
    const table = page.getByRole('table', { name: 'Your API keys' });
    await expectVisible(table.getByRole('row').filter({ hasText: 'phone-with-a-long-key-name' }), 'the key row');
    await expectVisible(page.getByRole('button', { name: 'New key', exact: true }), '"New key" button');
    const sizes = await page.evaluate(() => ({
      viewport: window.innerWidth,
      html: document.documentElement.scrollWidth,
      body: document.body.scrollWidth,
      scrollX: (window.scrollTo(10_000, window.scrollY), window.scrollX),
    }));
    assert.equal(sizes.viewport, NARROW.width);
    assert.ok(sizes.body <= sizes.viewport, `body is ${sizes.body} px wide in a ${sizes.viewport} px viewport`);
    assert.ok(sizes.html <= sizes.viewport, `the document is ${sizes.html} px wide in a ${sizes.viewport} px viewport`);
    assert.equal(sizes.scrollX, 0, 'the page cannot be scrolled sideways');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'keys-narrow');
  });
});

test('the provider key typed in the playground is kept in no storage and no URL', async () => {
  const email = uniqueEmail('playground');
  const session = await apiSignup(email);
  const key = await apiCreateKey(session.access_token, { name: 'playground' });
  const providerKey = `sk-ant-e2e-${randomBytes(12).toString('hex')}`;
  await fetch(`${MOCK_URL}/_mock/requests`, { method: 'DELETE' });
  await setMockBehavior({});
  await withBrowser('playground-secret', {}, async (page) => {
    await loginThroughUi(page, email);
    await navLink(page, 'Playground').click();
    await expectVisible(page.getByRole('heading', { name: 'Playground', exact: true }), 'playground heading');
    await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('Say hello.');
    await page.getByLabel('Provider', { exact: true }).selectOption('anthropic');
    await page.getByLabel('mintoken key', { exact: true }).fill(key.raw_key);
    await page.getByLabel('Provider key', { exact: true }).fill(providerKey);
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    await expectVisible(page.getByRole('heading', { name: 'With mintoken', exact: true }), 'the comparison result');

    // The key did reach the (mock) provider, as x-api-key.
    const seen = await (await fetch(`${MOCK_URL}/_mock/requests`)).json();
    assert.ok(
      seen.some((r) => r.headers.some(([n, v]) => n === 'x-api-key' && v === providerKey)),
      'the provider received the typed key',
    );

    const check = async (when) => {
      const stored = await storageAndUrl(page);
      for (const [where, value] of Object.entries(stored)) {
        assert.ok(!value.includes(providerKey), `${when}: the provider key is not in ${where}`);
      }
    };
    await check('after Compare');
    await navLink(page, 'Keys').click();
    await expectVisible(page.getByRole('heading', { name: 'API keys', exact: true }), 'keys page');
    await check('after leaving the playground');
    await page.reload();
    await expectVisible(page.getByRole('heading', { name: 'API keys', exact: true }), 'keys page after reload');
    await check('after a reload');
  });
});
