// Custom rules: a regular expression that forces an intensity when it matches a prompt.
// The server validates patterns; its message is shown as it is.

import { api } from './api.js';
import { alertBox, busy, errorMessage, field, h, loading, pageHeading, replace, table, time } from './ui.js';

// The server's rule types (crates/mintoken/src/rules/mod.rs) and what each does.
const RULE_TYPES = [
  ['never_compress', 'never_compress (→ none)'],
  ['always_compress', 'always_compress (→ ultra)'],
  ['keep_exact', 'keep_exact (no effect yet)'],
  ['abbreviation', 'abbreviation (no effect yet)'],
];

export function render(main, { isCurrent }) {
  const error = alertBox();
  const ruleType = field('Rule type', 'select', {}, RULE_TYPES);
  const pattern = field('Pattern', 'text', {
    required: true, spellcheck: 'false', autocomplete: 'off', class: 'mono',
    'data-hint': 'A regular expression, matched case-insensitively against the prompt, e.g. patient|diagnos',
  });
  const priority = field('Priority', 'number', { value: '0', step: '1', inputmode: 'numeric', 'data-hint': 'The highest priority matching rule wins; on a tie never_compress wins.' });
  const add = h('button', { type: 'submit' }, 'Add rule');
  const list = h('div', {}, loading('Loading your rules…'));

  const form = h('form', {
    class: 'card',
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      error.clear();
      const p = priority.input.value.trim();
      const body = {
        rule_type: ruleType.input.value,
        pattern: pattern.input.value,
        priority: p === '' ? 0 : Number.isNaN(Number(p)) ? p : Number(p),
      };
      try {
        await busy(add, () => api('POST', '/v1/rules', body));
        pattern.input.value = '';
        await load();
        pattern.input.focus();
      } catch (e) {
        error.show(errorMessage(e));
      }
    },
  }, h('h2', {}, 'Add a rule'), error.el, h('div', { class: 'grid-3' }, ruleType.wrap, pattern.wrap, priority.wrap),
  h('div', { class: 'actions' }, add));

  main.append(
    pageHeading('Custom rules'),
    h('p', { class: 'lead' }, 'Rules run before smart detection on keys that have it: a matching never_compress rule sends the request untouched, always_compress uses ultra.'),
    form,
    list,
  );

  async function load() {
    try {
      const rules = await api('GET', '/v1/rules');
      if (isCurrent()) draw(rules);
    } catch (e) {
      if (isCurrent()) replace(list, h('p', { role: 'alert', class: 'alert' }, `Could not load your rules: ${errorMessage(e)}`));
    }
  }

  function draw(rules) {
    if (!rules.length) {
      replace(list, h('p', { class: 'empty' }, 'No rules yet.'));
      return;
    }
    replace(list, table('Your rules', ['Type', 'Pattern', 'Priority', 'Effect', 'Created', 'Actions'], rules.map((r) => [
      r.rule_type,
      h('code', { class: 'wrap' }, r.pattern),
      String(r.priority),
      r.effective ? 'active' : 'no effect yet',
      time(r.created_at),
      h('button', {
        type: 'button',
        class: 'danger small',
        'aria-label': `Delete ${r.pattern}`,
        onclick: async (event) => {
          const button = event.currentTarget;
          error.clear();
          try {
            await busy(button, () => api('DELETE', `/v1/rules/${encodeURIComponent(r.id)}`));
            await load();
            pattern.input.focus();
          } catch (e) {
            error.show(errorMessage(e));
          }
        },
      }, 'Delete'),
    ])));
  }

  load();
}
