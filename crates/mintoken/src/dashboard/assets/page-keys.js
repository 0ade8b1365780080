// API keys: list, create (the raw key is shown once, in a dialog), edit settings, revoke.
// The raw key of a key created here is kept in `memory` (this page's JS, never storage)
// so the playground can prefill it; reloading the page forgets it.

import { api } from './api.js';
import {
  alertBox, busy, errorMessage, field, h, loading, openDialog, pageHeading, replace, table, time,
} from './ui.js';

export const memory = { lastRawKey: null };

const INTENSITIES = [['none', 'none'], ['lite', 'lite'], ['full', 'full'], ['ultra', 'ultra']];
const LEVELS = [['conservative', 'conservative'], ['standard', 'standard'], ['aggressive', 'aggressive']];

export function render(main, { isCurrent }) {
  const heading = pageHeading('API keys');
  const newButton = h('button', { type: 'button', onclick: () => createDialog() }, 'New key');
  const list = h('div', {}, loading('Loading your keys…'));
  const pageError = alertBox();
  main.append(
    h('div', { class: 'page-head' }, heading, newButton),
    h('p', { class: 'lead' }, 'Each key identifies you to the proxy (Authorization: Bearer mt_live_…). Your provider key goes in X-Provider-Key and is never stored.'),
    pageError.el,
    list,
  );
  const focusBack = () => newButton;

  async function load() {
    try {
      const keys = await api('GET', '/v1/auth/keys');
      if (isCurrent()) drawTable(keys);
    } catch (e) {
      if (isCurrent()) replace(list, h('p', { role: 'alert', class: 'alert' }, `Could not load your keys: ${errorMessage(e)}`));
    }
  }

  function drawTable(keys) {
    if (!keys.length) {
      replace(list, h('p', { class: 'empty' }, 'No keys yet. Create one with “New key”.'));
      return;
    }
    // Active keys first; the server's order (newest first) within each group.
    const sorted = [...keys.filter((k) => k.is_active), ...keys.filter((k) => !k.is_active)];
    const rows = sorted.map((k) => [
      h('code', {}, k.key_prefix),
      h('span', { class: 'wrap' }, k.name),
      k.intensity,
      h('span', { class: 'wrap' }, flags(k)),
      time(k.created_at),
      k.last_used_at ? time(k.last_used_at) : 'Never',
      h('span', { class: k.is_active ? 'badge ok' : 'badge muted' }, k.is_active ? 'Active' : 'Revoked'),
      k.is_active
        ? h('div', { class: 'row-actions' },
          h('button', { type: 'button', class: 'secondary small', 'aria-label': `Edit ${k.name}`, onclick: () => editDialog(k) }, 'Edit'),
          h('button', { type: 'button', class: 'danger small', 'aria-label': `Revoke ${k.name}`, onclick: () => revokeDialog(k) }, 'Revoke'))
        : '',
    ]);
    replace(list, table('Your API keys',
      ['Prefix', 'Name', 'Intensity', 'Flags', 'Created', 'Last used', 'Status', 'Actions'], rows));
  }

  function createDialog() {
    openDialog('New key', (close) => settingsForm({
      submitText: 'Create key',
      initial: { name: '', intensity: 'full', smart_detect_enabled: true, auto_compress_input: false, context_compress: false, context_compress_level: 'standard', holdout_percent: 0 },
      onCancel: close,
      async onSubmit(body) {
        const created = await api('POST', '/v1/auth/keys', body);
        memory.lastRawKey = created.raw_key;
        close();
        showRawKey(created, focusBack);
        load();
      },
    }), { fallbackFocus: focusBack });
  }

  function editDialog(k) {
    openDialog('Edit key', (close) => settingsForm({
      submitText: 'Save',
      initial: k,
      onCancel: close,
      async onSubmit(body) {
        await api('PATCH', `/v1/auth/keys/${encodeURIComponent(k.id)}`, body);
        close();
        load();
      },
    }), { fallbackFocus: focusBack });
  }

  function revokeDialog(k) {
    openDialog('Revoke key?', (close) => {
      const error = alertBox();
      const confirm = h('button', {
        type: 'button',
        class: 'danger',
        onclick: async () => {
          error.clear();
          try {
            await busy(confirm, () => api('DELETE', `/v1/auth/keys/${encodeURIComponent(k.id)}`));
            close();
            load();
          } catch (e) {
            error.show(errorMessage(e));
          }
        },
      }, 'Revoke key');
      return h('div', {},
        h('p', {}, 'Key ', h('strong', {}, k.name), ' (', h('code', {}, k.key_prefix), ') will stop working within a second, on every server. This cannot be undone.'),
        error.el,
        h('div', { class: 'actions' }, confirm, h('button', { type: 'button', class: 'secondary', onclick: close, autofocus: true }, 'Cancel')));
    }, { fallbackFocus: focusBack });
  }

  load();
}

/** The one-time raw-key dialog, shared with the organizations page. */
export function showRawKey(created, focusBack) {
  openDialog('Your new API key', (close) => {
    const key = field('API key', 'text', { readOnly: true, value: created.raw_key, class: 'mono', spellcheck: 'false', autocomplete: 'off' });
    const copied = h('span', { class: 'copied', role: 'status' });
    const copy = h('button', {
      type: 'button',
      class: 'secondary',
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(created.raw_key);
          copied.textContent = 'Copied';
        } catch {
          key.input.select();
          copied.textContent = 'Copy failed: the key is selected, press Ctrl+C (⌘C).';
        }
      },
    }, 'Copy');
    key.input.addEventListener('focus', () => key.input.select());
    return h('div', {},
      h('p', { class: 'warning' }, h('strong', {}, 'You will not see this key again'), '. Store it somewhere safe now; mintoken keeps only its hash.'),
      key.wrap,
      h('div', { class: 'actions' }, copy, copied, h('button', { type: 'button', onclick: close, autofocus: true }, 'Done')),
      h('p', { class: 'hint' }, `Key “${created.name}”, prefix ${created.key_prefix}.`));
  }, { fallbackFocus: focusBack });
}

function flags(k) {
  const on = [];
  if (k.smart_detect_enabled) on.push('smart detection');
  if (k.auto_compress_input) on.push('input compression');
  if (k.context_compress) on.push(`context (${k.context_compress_level})`);
  if (k.holdout_percent) on.push(`holdout ${k.holdout_percent} %`);
  return on.length ? on.join(', ') : '—';
}

/** The fields of a key's settings, shared by "New key" and "Edit key". */
function settingsForm({ submitText, initial, onSubmit, onCancel }) {
  const error = alertBox();
  const name = field('Name', 'text', { value: initial.name, required: true, maxlength: '100', autocomplete: 'off' });
  const intensity = field('Intensity', 'select', {}, INTENSITIES);
  intensity.input.value = initial.intensity;
  const smart = field('Smart detection', 'checkbox', { checked: Boolean(initial.smart_detect_enabled), 'data-hint': 'Picks the intensity per request (paid plans).' });
  const input = field('Input compression', 'checkbox', { checked: Boolean(initial.auto_compress_input), 'data-hint': 'Shrinks long prompts (paid plans).' });
  const context = field('Context compression', 'checkbox', { checked: Boolean(initial.context_compress), 'data-hint': 'Shrinks long agent sessions.' });
  const level = field('Context level', 'select', {}, LEVELS);
  level.input.value = initial.context_compress_level || 'standard';
  const holdout = field('Holdout %', 'number', {
    min: '0', max: '100', step: '1', value: String(initial.holdout_percent ?? 0), inputmode: 'numeric',
    'data-hint': 'Share of requests sent without the skill, to measure the real saving.',
  });
  const submit = h('button', { type: 'submit' }, submitText);
  return h('form', {
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      error.clear();
      // Not a number: sent as typed, so the server's message says what it must be.
      const raw = holdout.input.value.trim();
      const holdoutValue = raw === '' ? 0 : Number.isNaN(Number(raw)) ? raw : Number(raw);
      const body = {
        name: name.input.value,
        intensity: intensity.input.value,
        smart_detect_enabled: smart.input.checked,
        auto_compress_input: input.input.checked,
        context_compress: context.input.checked,
        context_compress_level: level.input.value,
        holdout_percent: holdoutValue,
      };
      try {
        await busy(submit, () => onSubmit(body));
      } catch (e) {
        error.show(errorMessage(e));
      }
    },
  },
  error.el,
  name.wrap,
  intensity.wrap,
  h('fieldset', {}, h('legend', {}, 'Compression'), smart.wrap, input.wrap, context.wrap),
  level.wrap,
  holdout.wrap,
  h('div', { class: 'actions' }, submit, h('button', { type: 'button', class: 'secondary', onclick: onCancel }, 'Cancel')));
}
