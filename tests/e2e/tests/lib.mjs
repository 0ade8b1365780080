// Shared harness for the dashboard end-to-end tests: the servers' addresses (set by
// tests/e2e/run), a fresh headless Debian Chromium per test, small polling assertions
// (playwright-core ships no `expect`), screenshots and direct API calls for set-up.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with tests/e2e/run`);
  return value.replace(/\/+$/, '');
}

export const BASE_URL = requiredEnv('MINTOKEN_URL');
export const MOCK_URL = requiredEnv('MOCK_URL');
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || path.resolve('../../docs/screenshots');
export const ARTIFACT_DIR = process.env.E2E_ARTIFACT_DIR || path.resolve('test-results');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** How long one UI expectation may take before it fails. */
export const TIMEOUT = 10_000;

export const DESKTOP = { width: 1280, height: 800 };
export const NARROW = { width: 360, height: 800 };

// The flags this machine needs (see .library/env/machines/rust-svc.md): no sandbox as root,
// no GPU, and no background connections to Google's hosts (the network is closed).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A fresh browser with a fresh, empty profile (`--user-data-dir` in a new temporary
 * directory) and one page. Returns { context, page, close }.
 */
export async function openBrowser({ viewport = DESKTOP } = {}) {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'mintoken-e2e-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    deviceScaleFactor: 1,
    locale: 'en-US',
    timezoneId: 'UTC',
    colorScheme: 'light',
    reducedMotion: 'reduce',
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  context.setDefaultTimeout(TIMEOUT);
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  return {
    context,
    page,
    consoleErrors,
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

/** Saves a screenshot of the viewport into docs/screenshots/<name>.png. */
export async function screenshot(page, name, options = {}) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  // Let fonts and transitions settle so the pictures are stable.
  await page.evaluate(() => document.fonts?.ready).catch(() => {});
  await page.screenshot({
    path: path.join(SCREENSHOT_DIR, `${name}.png`),
    animations: 'disabled',
    caret: 'hide',
    ...options,
  });
}

/** Saves a full-page screenshot of a failure under tests/e2e/test-results/ (not committed). */
export async function failureScreenshot(page, name) {
  if (!page || page.isClosed()) return;
  try {
    await mkdir(ARTIFACT_DIR, { recursive: true });
    const file = path.join(ARTIFACT_DIR, `${name.replace(/[^a-z0-9-]+/gi, '_')}.png`);
    await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
    console.error(`  failure screenshot: ${file}`);
  } catch {
    // The page may be gone; the assertion message is what matters.
  }
}

// ---------- polling assertions (playwright-core has no `expect`) ----------

/** Waits until the locator is visible. */
export async function expectVisible(locator, message) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: TIMEOUT });
  } catch (e) {
    throw new assert.AssertionError({ message: `${message ?? 'not visible'}: ${locator} (${firstLine(e)})` });
  }
}

/** Waits until the locator matches nothing visible. */
export async function expectHidden(locator, message) {
  try {
    await locator.first().waitFor({ state: 'hidden', timeout: TIMEOUT });
  } catch (e) {
    throw new assert.AssertionError({ message: `${message ?? 'still visible'}: ${locator} (${firstLine(e)})` });
  }
}

/** Polls `fn` until it returns a truthy value (returned) or the timeout passes. */
export async function eventually(fn, message, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${firstLine(lastError)})` : ` (last value: ${JSON.stringify(last)})`;
      throw new assert.AssertionError({ message: `${message}${why}` });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function firstLine(e) {
  return String(e?.message ?? e).split('\n')[0];
}

/** The text of the locator's first match, whitespace collapsed. */
export async function textOf(locator) {
  return ((await locator.first().innerText()) ?? '').replace(/\s+/g, ' ').trim();
}

/** Presses Tab until `locator` has the focus (keyboard-only navigation). */
export async function tabTo(page, locator, { max = 40, shift = false } = {}) {
  const handle = await locator.first().elementHandle({ timeout: TIMEOUT });
  for (let i = 0; i < max; i++) {
    if (await handle.evaluate((el) => el === document.activeElement)) return i;
    await page.keyboard.press(shift ? 'Shift+Tab' : 'Tab');
  }
  if (await handle.evaluate((el) => el === document.activeElement)) return max;
  const active = await page.evaluate(() => {
    const el = document.activeElement;
    return el ? `${el.tagName.toLowerCase()} ${el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 40) ?? ''}` : 'none';
  });
  throw new assert.AssertionError({ message: `${locator} never got the focus after ${max} Tab presses (focus is on ${active})` });
}

/** Whether `locator` currently has the focus (or contains it). */
export async function hasFocus(locator) {
  return locator.first().evaluate((el) => el === document.activeElement || el.contains(document.activeElement));
}

/** Everything the page keeps in Web Storage, as one string, plus the URL. */
export async function storageAndUrl(page) {
  return page.evaluate(() => {
    const dump = (s) => {
      const out = {};
      for (let i = 0; i < s.length; i++) {
        const k = s.key(i);
        out[k] = s.getItem(k);
      }
      return out;
    };
    return {
      sessionStorage: JSON.stringify(dump(window.sessionStorage)),
      localStorage: JSON.stringify(dump(window.localStorage)),
      url: window.location.href,
    };
  });
}

/** The whole document as markup plus the live value of every form field. */
export async function pageContents(page) {
  return page.evaluate(() => {
    const values = [...document.querySelectorAll('input, textarea, select')].map((el) => el.value);
    return { html: document.documentElement.outerHTML, text: document.body.innerText, values };
  });
}

// ---------- direct API calls (set-up for the focused cases, and the proxied call) ----------

export function uniqueEmail(tag) {
  return `e2e-${tag}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}@example.com`;
}

export const PASSWORD = 'correct horse battery staple';

async function api(method, route, { token, body } = {}) {
  const res = await fetch(`${BASE_URL}${route}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/** Signs a user up through the API; returns the session. */
export async function apiSignup(email, password = PASSWORD) {
  const { status, json } = await api('POST', '/v1/auth/signup', { body: { email, password } });
  assert.ok(status === 200 || status === 201, `signup answered ${status}: ${JSON.stringify(json)}`);
  return json;
}

/** Creates a key through the API; returns the created key (with raw_key). */
export async function apiCreateKey(token, body) {
  const { status, json } = await api('POST', '/v1/auth/keys', { token, body });
  assert.equal(status, 201, `key creation answered ${status}: ${JSON.stringify(json)}`);
  return json;
}

/** Sets the mock upstream's behaviour (see crates/mintoken-mock/src/behavior.rs). */
export async function setMockBehavior(behavior) {
  const res = await fetch(`${MOCK_URL}/_mock/behavior`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(behavior),
  });
  assert.equal(res.status, 200, `mock behaviour refused: ${await res.text()}`);
}

export const PROVIDER_KEY = 'sk-e2e-provider-key-not-real-0000';

/** A real proxied OpenAI Chat Completions call with a mintoken key. */
export async function proxiedChat(rawKey) {
  const res = await fetch(`${BASE_URL}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${rawKey}`,
      'X-Provider-Key': PROVIDER_KEY,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello to the end-to-end test.' }],
    }),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}

// ---------- dashboard flows shared by several tests ----------

/** Opens the dashboard and logs in through the form; lands on the keys page. */
export async function loginThroughUi(page, email, password = PASSWORD) {
  await page.goto(`${BASE_URL}/`);
  await expectVisible(page.getByRole('heading', { name: 'Log in' }), 'login page heading');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expectVisible(page.getByRole('heading', { name: 'API keys' }), 'keys page after logging in');
}

/** The nav link to a page of the dashboard. */
export function navLink(page, name) {
  return page.getByRole('navigation').getByRole('link', { name, exact: true });
}

/**
 * The cell of `table`'s row containing `rowText`, in the column whose header matches
 * `column`. Returns the cell's text.
 */
export async function cellText(table, rowText, column) {
  return table.evaluate(
    (t, { rowText, column }) => {
      const re = new RegExp(column, 'i');
      const headerRow = t.tHead?.rows[0] ?? t.rows[0];
      const headers = [...headerRow.cells].map((c) => c.innerText.trim());
      const index = headers.findIndex((h) => re.test(h));
      if (index < 0) return { error: `no column matching /${column}/i in [${headers.join(' | ')}]` };
      const bodyRows = [...t.tBodies].flatMap((b) => [...b.rows]);
      const row = bodyRows.find((r) => r.innerText.includes(rowText));
      if (!row) return { error: `no row containing "${rowText}"` };
      return { text: row.cells[index]?.innerText.trim() ?? '' };
    },
    { rowText, column },
  );
}
