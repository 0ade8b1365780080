// Harness check: Debian Chromium starts with this machine's flags and the dashboard's
// page is served at `/` with its security headers, without script errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, openBrowser, expectVisible } from './lib.mjs';

test('the dashboard is served at / and starts without script errors', async () => {
  const health = await fetch(`${BASE_URL}/healthz`);
  assert.equal(health.status, 200, 'mintoken serve is up');
  const b = await openBrowser();
  try {
    const res = await b.page.goto(`${BASE_URL}/`);
    assert.equal(res.status(), 200);
    const headers = res.headers();
    assert.match(headers['content-type'] ?? '', /^text\/html/);
    assert.match(headers['content-security-policy'] ?? '', /script-src 'self'/, 'a strict CSP');
    await expectVisible(b.page.getByRole('heading', { level: 1 }), 'the app rendered a page heading');
    assert.deepEqual(b.consoleErrors, [], 'no console errors while loading');
  } finally {
    await b.close();
  }
});
