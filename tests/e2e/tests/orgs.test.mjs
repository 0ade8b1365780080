// Organizations in the dashboard: a user on a plan that allows orgs (tests/e2e/run gives
// the free plan `max_orgs = 1`) creates an org, invites a second user (who already has an
// account, so they join at once), creates an org key (raw key shown once), sends a real
// request through the proxy with it, and sees the org's usage on the org's page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiSignup,
  cellText,
  eventually,
  expectHidden,
  expectVisible,
  failureScreenshot,
  loginThroughUi,
  navLink,
  openBrowser,
  pageContents,
  proxiedChat,
  screenshot,
  textOf,
  uniqueEmail,
} from './lib.mjs';

const dialogWith = (page, heading) =>
  page.getByRole('dialog').filter({ has: page.getByRole('heading', { name: heading, exact: true }) });

test('create an org, invite a member, create an org key and see the org usage', async () => {
  const owner = uniqueEmail('org-owner');
  const teammate = uniqueEmail('org-member');
  await apiSignup(owner);
  await apiSignup(teammate);
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await loginThroughUi(page, owner);
    await navLink(page, 'Organizations').click();
    await expectVisible(page.getByRole('heading', { name: 'Organizations', exact: true }), 'organizations page');

    // Create the org; its page opens.
    await page.getByRole('button', { name: 'New organization', exact: true }).click();
    const create = dialogWith(page, 'New organization');
    await expectVisible(create, '"New organization" dialog');
    const orgName = `E2E Team ${Date.now().toString(36)}`;
    await create.getByLabel('Name', { exact: true }).fill(orgName);
    await create.getByRole('button', { name: 'Create organization', exact: true }).click();
    await expectVisible(page.getByRole('heading', { name: orgName, exact: true }), 'the new org\'s page');

    // Invite the teammate (an existing account: a member at once, role admin).
    const invite = page.getByRole('form', { name: 'Invite by email' });
    await invite.getByLabel('Email', { exact: true }).fill(teammate);
    await invite.getByLabel('Role', { exact: true }).selectOption('admin');
    await invite.getByRole('button', { name: 'Invite', exact: true }).click();
    const members = page.getByRole('table', { name: 'Members' });
    await eventually(async () => (await textOf(members)).includes(teammate), 'the teammate is listed as a member');
    await expectVisible(page.getByLabel(`Role of ${teammate}`), 'the teammate\'s role can be changed');
    assert.equal(await page.getByLabel(`Role of ${teammate}`).inputValue(), 'admin');

    // An org key: the raw key once, in the same dialog as personal keys.
    await page.getByRole('button', { name: 'New org key', exact: true }).click();
    const newKey = dialogWith(page, 'New org key');
    await newKey.getByLabel('Name', { exact: true }).fill('team-ci');
    await newKey.getByRole('button', { name: 'Create key', exact: true }).click();
    const shown = dialogWith(page, 'Your new API key');
    await expectVisible(shown, 'the one-time raw-key dialog');
    const rawKey = await shown.getByLabel('API key', { exact: true }).inputValue();
    assert.match(rawKey, /^mt_live_/);
    await shown.getByRole('button', { name: 'Done', exact: true }).click();
    await expectHidden(shown, 'the raw-key dialog closed');
    const keys = page.getByRole('table', { name: 'Organization keys' });
    await eventually(async () => (await textOf(keys)).includes('team-ci'), 'the org key is listed');
    // The dialog leaves the document on its `close` event, a task after Done.
    await eventually(async () => {
      const contents = await pageContents(page);
      return !contents.html.includes(rawKey) && !contents.values.includes(rawKey);
    }, 'the raw key is gone from the page');

    // A real request through the proxy with the org key, then the org's usage.
    const { status, json } = await proxiedChat(rawKey);
    assert.equal(status, 200, `proxied call: ${JSON.stringify(json)}`);
    await eventually(async () => {
      await page.reload();
      await expectVisible(page.getByRole('heading', { name: orgName, exact: true }), 'org page after reload');
      const usage = page.getByRole('region', { name: 'Usage this month' });
      const requests = usage.getByRole('definition').first();
      return (await textOf(requests)) === '1';
    }, 'the org\'s usage shows the request', 15_000);
    const lastUsed = await cellText(keys, 'team-ci', 'Last used');
    assert.ok(!lastUsed.error, lastUsed.error);
    await screenshot(page, 'orgs');
  } catch (e) {
    await failureScreenshot(page, 'orgs');
    if (browser.consoleErrors.length) console.error(`  browser console errors:\n    ${browser.consoleErrors.join('\n    ')}`);
    throw e;
  } finally {
    await browser.close();
  }
});
