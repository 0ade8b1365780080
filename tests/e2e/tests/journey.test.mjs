// The acceptance journey (SPEC §5–§8, issue 7): one user, one browser, in order —
// sign up → create a key (raw key shown once) → a real proxied call with it → edit the key
// → rules (invalid, valid, delete) → analytics shows the call → playground comparison →
// plan → revoke (the call now gets 401) → log out.
//
// Each step is its own test so the report says exactly which step failed. A step that
// needs something an earlier step did not produce fails with that reason (it is not
// skipped), and the page is reloaded after a failure so the next step starts clean.

import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL,
  PASSWORD,
  PROVIDER_KEY,
  cellText,
  eventually,
  expectHidden,
  expectVisible,
  failureScreenshot,
  navLink,
  openBrowser,
  pageContents,
  proxiedChat,
  screenshot,
  setMockBehavior,
  storageAndUrl,
  textOf,
} from './lib.mjs';

// A fresh data directory per run (tests/e2e/run), so fixed, readable names are safe and
// keep the screenshots tidy.
const EMAIL = 'you@example.com';
const KEY_NAME = 'laptop';
const VALID_PATTERN = '\\b(GDPR|HIPAA)\\b';
const INVALID_PATTERN = '(unclosed';

describe('dashboard journey', { concurrency: 1 }, () => {
  let browser;
  let page;
  const state = { signedUp: false, rawKey: null, keyCreated: false };
  let failed = false;

  /** Fails (never skips) when an earlier step did not produce what this one needs. */
  function needs(...what) {
    for (const w of what) {
      if (!state[w]) throw new Error(`cannot run: an earlier step failed to produce "${w}"`);
    }
  }

  before(async () => {
    browser = await openBrowser();
    page = browser.page;
  });

  afterEach(async (t) => {
    // node:test gives no per-test status to afterEach in Node 20; the steps flag it.
    if (failed) {
      await failureScreenshot(page, `journey-${t.name}`);
      failed = false;
      // Start the next step from a clean page (the session survives in sessionStorage).
      await page.reload().catch(() => {});
    }
  });

  after(async () => {
    if (browser?.consoleErrors.length) {
      // Informational: the invalid rule's 400 is logged by Chromium on purpose.
      console.error(`  browser console errors during the journey:\n    ${browser.consoleErrors.join('\n    ')}`);
    }
    await browser?.close();
    await setMockBehavior({}).catch(() => {});
  });

  /** Runs a step, remembering whether it failed for the afterEach hook. */
  function step(name, fn) {
    test(name, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    });
  }

  async function goTo(link, heading) {
    await navLink(page, link).click();
    await expectVisible(page.getByRole('heading', { name: heading, exact: true }), `${link} page heading "${heading}"`);
  }

  const keysTable = () => page.getByRole('table', { name: 'Your API keys' });
  const dialogWith = (heading) =>
    page.getByRole('dialog').filter({ has: page.getByRole('heading', { name: heading, exact: true }) });

  step('1. the login page links to sign-up, and signing up lands on the keys page', async () => {
    await page.goto(`${BASE_URL}/`);
    await expectVisible(page.getByRole('heading', { name: 'Log in', exact: true }), 'login heading');
    await expectVisible(page.getByLabel('Email', { exact: true }), 'Email field');
    await expectVisible(page.getByLabel('Password', { exact: true }), 'Password field');
    await expectVisible(page.getByRole('button', { name: 'Log in', exact: true }), 'Log in button');
    await screenshot(page, 'login');

    await page.getByRole('link', { name: 'Create an account', exact: true }).click();
    await expectVisible(page.getByRole('heading', { name: 'Create your account', exact: true }), 'signup heading');
    assert.match(page.url(), /#\/signup$/, 'the sign-up page lives at #/signup');
    await expectVisible(page.getByRole('link', { name: 'Log in instead', exact: true }), '"Log in instead" link');
    await page.getByLabel('Email', { exact: true }).fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await screenshot(page, 'signup');
    await page.getByRole('button', { name: 'Sign up', exact: true }).click();

    await expectVisible(page.getByRole('heading', { name: 'API keys', exact: true }), 'keys page after sign-up');
    for (const link of ['Keys', 'Rules', 'Analytics', 'Playground', 'Plan']) {
      await expectVisible(navLink(page, link), `nav link "${link}"`);
    }
    await expectVisible(page.getByRole('button', { name: 'Log out', exact: true }), 'Log out button');
    state.signedUp = true;
  });

  step('2. creating a key shows the raw key once, then nowhere', async () => {
    needs('signedUp');
    await page.getByRole('button', { name: 'New key', exact: true }).click();
    const dialog = dialogWith('New key');
    await expectVisible(dialog, '"New key" dialog');
    await dialog.getByRole('textbox', { name: 'Name', exact: true }).fill(KEY_NAME);
    await dialog.getByLabel('Intensity', { exact: true }).selectOption('full');
    await expectVisible(dialog.getByRole('checkbox', { name: 'Smart detection', exact: true }), 'Smart detection checkbox');
    await expectVisible(dialog.getByRole('checkbox', { name: 'Input compression', exact: true }), 'Input compression checkbox');
    await dialog.getByRole('checkbox', { name: 'Context compression', exact: true }).check();
    await dialog.getByLabel('Context level', { exact: true }).selectOption('aggressive');
    await dialog.getByRole('spinbutton', { name: 'Holdout %', exact: true }).fill('10');
    await screenshot(page, 'new-key-dialog');
    await dialog.getByRole('button', { name: 'Create key', exact: true }).click();

    const shown = dialogWith('Your new API key');
    await expectVisible(shown, '"Your new API key" dialog');
    const rawBox = shown.getByRole('textbox', { name: 'API key', exact: true });
    await expectVisible(rawBox, '"API key" textbox');
    const raw = await rawBox.inputValue();
    assert.match(raw, /^mt_live_[A-Za-z0-9_-]{32,}$/, 'the textbox holds the raw mt_live_ key');
    assert.equal(await rawBox.isEditable(), false, 'the "API key" textbox is read-only');
    await expectVisible(shown.getByText('You will not see this key again'), 'the one-time warning');
    await expectVisible(shown.getByRole('button', { name: 'Copy', exact: true }), 'Copy button');
    // The picture must not show a real-looking key: the textbox is masked.
    await screenshot(page, 'raw-key-dialog', { mask: [rawBox], maskColor: '#5b6475' });
    state.rawKey = raw;

    await shown.getByRole('button', { name: 'Copy', exact: true }).click();
    const copied = await eventually(
      () => page.evaluate(() => navigator.clipboard.readText()),
      'Copy put something on the clipboard',
    );
    assert.equal(copied, raw, 'Copy puts exactly the raw key on the clipboard');

    await shown.getByRole('button', { name: 'Done', exact: true }).click();
    await expectHidden(shown, 'the raw-key dialog closes on Done');

    const table = keysTable();
    await expectVisible(table.getByRole('row').filter({ hasText: KEY_NAME }), `row "${KEY_NAME}" in "Your API keys"`);
    assert.equal(await cellText(table, KEY_NAME, 'status').then((c) => c.text ?? c.error), 'Active');
    state.keyCreated = true;

    const contents = await pageContents(page);
    assert.ok(!contents.html.includes(raw), 'after Done the raw key is not in the document');
    assert.ok(!contents.text.includes(raw), 'after Done the raw key is not in the page text');
    assert.ok(!contents.values.some((v) => v.includes(raw)), 'after Done no form field holds the raw key');
    const stored = await storageAndUrl(page);
    assert.ok(!stored.sessionStorage.includes(raw), 'the raw key is not in sessionStorage');
    assert.ok(!stored.localStorage.includes(raw), 'the raw key is not in localStorage');
    assert.ok(!stored.url.includes(raw), 'the raw key is not in the URL');
    // The key's 12-character prefix is what the table may show.
    await expectVisible(table.getByText(raw.slice(0, 12)), 'the key prefix in the table');
    await screenshot(page, 'keys');
  });

  step('3. a real proxied call with the new key answers 200', async () => {
    needs('rawKey');
    const res = await proxiedChat(state.rawKey);
    assert.equal(res.status, 200, `proxied call: ${JSON.stringify(res.json)}`);
    assert.ok(res.json.choices?.[0]?.message?.content, 'an OpenAI chat completion came back');
    assert.ok(res.headers.get('x-mintoken-intensity'), 'X-Mintoken-Intensity is set');
  });

  step('4. editing the key changes its intensity in the table', async () => {
    needs('keyCreated');
    await page.getByRole('button', { name: `Edit ${KEY_NAME}`, exact: true }).click();
    const dialog = dialogWith('Edit key');
    await expectVisible(dialog, '"Edit key" dialog');
    const name = dialog.getByRole('textbox', { name: 'Name', exact: true });
    assert.equal(await name.inputValue(), KEY_NAME, 'the edit dialog is filled with the key\'s name');
    const intensity = dialog.getByLabel('Intensity', { exact: true });
    assert.equal(await intensity.inputValue(), 'full', 'the edit dialog shows the current intensity');
    // The settings chosen at creation came back from the server.
    assert.equal(await dialog.getByRole('checkbox', { name: 'Context compression', exact: true }).isChecked(), true);
    assert.equal(await dialog.getByLabel('Context level', { exact: true }).inputValue(), 'aggressive');
    assert.equal(await dialog.getByRole('spinbutton', { name: 'Holdout %', exact: true }).inputValue(), '10');
    await intensity.selectOption('ultra');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await expectHidden(dialog, 'the edit dialog closes on Save');
    await eventually(
      async () => /ultra/i.test((await cellText(keysTable(), KEY_NAME, 'intensity')).text ?? ''),
      'the table shows intensity "ultra" for the key',
    );
  });

  step('5. rules: an invalid regex shows the server\'s message; a valid rule is added, then deleted', async () => {
    needs('signedUp');
    await goTo('Rules', 'Custom rules');
    await page.getByLabel('Rule type', { exact: true }).selectOption('never_compress');
    await page.getByRole('textbox', { name: 'Pattern', exact: true }).fill(INVALID_PATTERN);
    await page.getByRole('spinbutton', { name: 'Priority', exact: true }).fill('10');
    await page.getByRole('button', { name: 'Add rule', exact: true }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'not a valid regular expression' });
    await expectVisible(alert, 'the server\'s regex error in role="alert"');

    await page.getByRole('textbox', { name: 'Pattern', exact: true }).fill(VALID_PATTERN);
    await page.getByRole('button', { name: 'Add rule', exact: true }).click();
    const rules = page.getByRole('table', { name: 'Your rules' });
    await expectVisible(rules.getByRole('row').filter({ hasText: VALID_PATTERN }), 'the new rule in "Your rules"');
    await expectHidden(alert, 'the error goes away after a successful add');
    await screenshot(page, 'rules');

    await page.getByRole('button', { name: `Delete ${VALID_PATTERN}`, exact: true }).click();
    await expectHidden(rules.getByRole('row').filter({ hasText: VALID_PATTERN }), 'the deleted rule leaves the table');
  });

  step('6. analytics shows the proxied call and the key', async () => {
    needs('keyCreated');
    await goTo('Analytics', 'Analytics');
    const bar = page.getByRole('progressbar', { name: 'Output tokens this month' });
    await expectVisible(bar, 'the monthly quota progressbar');
    await expectVisible(page.getByLabel('Bucket', { exact: true }), 'the Bucket select');
    await expectVisible(page.getByRole('table', { name: 'Savings by model' }), '"Savings by model" table');

    // Usage rows are written off the request path: re-open the page until the call shows.
    let requests = 0;
    await eventually(async () => {
      const cell = await cellText(page.getByRole('table', { name: 'Usage by key' }), KEY_NAME, 'requests');
      if (cell.error) {
        await goTo('Keys', 'API keys');
        await goTo('Analytics', 'Analytics');
        throw new Error(cell.error);
      }
      requests = Number(cell.text.replace(/[^0-9.]/g, ''));
      return requests >= 1;
    }, `"Usage by key" has a row for "${KEY_NAME}" with requests ≥ 1`);
    assert.ok(requests >= 1);

    const used = await bar.evaluate((el) => Number(el.getAttribute('aria-valuenow') ?? el.value));
    assert.ok(Number.isFinite(used) && used > 0, `the progressbar reports the month's output tokens (got ${used})`);

    await page.getByLabel('Bucket', { exact: true }).selectOption('hour');
    await expectVisible(page.getByRole('table', { name: 'Usage by key' }), '"Usage by key" after changing the bucket');
    assert.equal(await page.getByRole('alert').filter({ hasText: /\S/ }).count(), 0, 'no error after changing the bucket');
    await page.getByLabel('Bucket', { exact: true }).selectOption('day');
    await screenshot(page, 'analytics');
  });

  step('7. the playground compares with and without mintoken (anthropic, answers from the mock)', async () => {
    needs('rawKey');
    await setMockBehavior({
      reply_text: 'A mutex lets one thread at a time enter a critical section, so shared data stays consistent.',
      output_tokens_without_skill: 48,
      output_tokens_with_skill: 16,
    });
    try {
      await goTo('Playground', 'Playground');
      await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('Explain what a mutex is.');
      await page.getByLabel('Provider', { exact: true }).selectOption('anthropic');
      await page.getByRole('textbox', { name: 'Model', exact: true }).fill('claude-sonnet-4-5');
      await page.getByLabel('Intensity', { exact: true }).selectOption('full');
      await page.getByLabel('mintoken key', { exact: true }).fill(state.rawKey);
      await page.getByLabel('Provider key', { exact: true }).fill(PROVIDER_KEY);
      assert.equal(await page.getByLabel('mintoken key', { exact: true }).getAttribute('type'), 'password');
      assert.equal(await page.getByLabel('Provider key', { exact: true }).getAttribute('type'), 'password');
      await page.getByRole('button', { name: 'Compare', exact: true }).click();

      await expectVisible(page.getByRole('heading', { name: 'Without mintoken', exact: true }), '"Without mintoken" result');
      await expectVisible(page.getByRole('heading', { name: 'With mintoken', exact: true }), '"With mintoken" result');
      assert.ok(
        (await page.getByText('A mutex lets one thread at a time').count()) >= 2,
        'both answers from the mock are shown',
      );
      const saved = page.getByText(/Saved/);
      await expectVisible(saved, 'a line containing "Saved"');
      assert.match(await textOf(saved), /32/, `the saving (48 − 16 = 32 output tokens) is reported: "${await textOf(saved)}"`);
      // Scroll the results into the picture (the form fills the first screen).
      await page
        .getByRole('heading', { name: 'Without mintoken', exact: true })
        .evaluate((el) => el.scrollIntoView({ block: 'center' }));
      await screenshot(page, 'playground');

      const stored = await storageAndUrl(page);
      for (const [where, value] of Object.entries(stored)) {
        assert.ok(!value.includes(PROVIDER_KEY), `the provider key is not in ${where}`);
      }
    } finally {
      await setMockBehavior({});
    }
  });

  step('8. the plan page', async () => {
    needs('signedUp');
    await goTo('Plan', 'Plan');
    await expectVisible(page.getByRole('main').getByText(/\bfree\b/i), 'the plan\'s name (free)');
    await screenshot(page, 'plan');
  });

  step('9. revoking the key (after a cancelled attempt) makes the proxied call 401', async () => {
    needs('keyCreated', 'rawKey');
    await goTo('Keys', 'API keys');
    const revokeButton = page.getByRole('button', { name: `Revoke ${KEY_NAME}`, exact: true });
    await revokeButton.click();
    const dialog = dialogWith('Revoke key?');
    await expectVisible(dialog, '"Revoke key?" dialog');
    await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
    await expectHidden(dialog, 'Cancel closes the revoke dialog');
    assert.equal((await cellText(keysTable(), KEY_NAME, 'status')).text, 'Active', 'Cancel keeps the key active');
    assert.equal((await proxiedChat(state.rawKey)).status, 200, 'the key still works after Cancel');

    await revokeButton.click();
    await expectVisible(dialog, '"Revoke key?" dialog (again)');
    await dialog.getByRole('button', { name: 'Revoke key', exact: true }).click();
    await expectHidden(dialog, 'the revoke dialog closes');
    await eventually(
      async () => (await cellText(keysTable(), KEY_NAME, 'status')).text === 'Revoked',
      'the key\'s status cell says "Revoked"',
    );

    let last;
    await eventually(async () => {
      last = await proxiedChat(state.rawKey);
      return last.status === 401;
    }, 'the revoked key gets 401 within a few seconds');
    assert.equal(last.json.detail, 'Invalid API key');
  });

  step('10. log out returns to "Log in" and private pages stay closed', async () => {
    needs('signedUp');
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await expectVisible(page.getByRole('heading', { name: 'Log in', exact: true }), 'login page after log out');
    await expectHidden(page.getByRole('navigation'), 'no navigation after log out');
    await page.goto(`${BASE_URL}/#/keys`);
    await expectVisible(page.getByRole('heading', { name: 'Log in', exact: true }), '#/keys sends a logged-out user to log in');
  });
});
