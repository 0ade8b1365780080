// Playground: one prompt, sent twice by the server (without and with the skill). The
// mintoken key and the provider key live only in the form's fields: never stored, never
// put in the URL. The mintoken key may be prefilled from a key created on the keys page
// in this same page load (memory only).

import { publicApi } from './api.js';
import { memory } from './page-keys.js';
import { alertBox, busy, errorMessage, field, h, loading, num, pageHeading, replace } from './ui.js';

export function render(main, { isCurrent }) {
  const error = alertBox();
  const prompt = field('Prompt', 'textarea', { rows: '6', required: true });
  const provider = field('Provider', 'select', {}, []);
  const model = field('Model', 'text', { autocomplete: 'off', spellcheck: 'false' });
  const intensity = field('Intensity', 'select', {}, [['lite', 'lite'], ['full', 'full'], ['ultra', 'ultra']]);
  intensity.input.value = 'full';
  const mintokenKey = field('mintoken key', 'password', {
    autocomplete: 'off', spellcheck: 'false', placeholder: 'mt_live_…',
    'data-hint': 'The comparison is metered on this key. Not stored.',
  });
  if (memory.lastRawKey) mintokenKey.input.value = memory.lastRawKey;
  const providerKey = field('Provider key', 'password', {
    autocomplete: 'off', spellcheck: 'false',
    'data-hint': 'Sent to the provider for these two requests only; never stored or logged.',
  });
  const baseUrl = field('Base URL', 'url', { autocomplete: 'off', spellcheck: 'false', placeholder: 'https://llm.example.com' });
  baseUrl.wrap.hidden = true;
  const compare = h('button', { type: 'submit' }, 'Compare');
  const status = h('p', { role: 'status', class: 'loading' });
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  let providers = [];

  function providerChanged() {
    const p = providers.find((x) => x.id === provider.input.value);
    model.input.placeholder = p && p.default_model ? p.default_model : 'required';
    model.input.required = Boolean(p && !p.default_model);
    baseUrl.wrap.hidden = !(p && p.needs_custom_base_url);
  }
  provider.input.addEventListener('change', providerChanged);

  const form = h('form', {
    class: 'card',
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      error.clear();
      const key = mintokenKey.input.value.trim();
      if (!prompt.input.value.trim()) { error.show('Enter a prompt.'); prompt.input.focus(); return; }
      if (!key) { error.show('Enter your mintoken key (mt_live_…): create one on the Keys page.'); mintokenKey.input.focus(); return; }
      const p = providers.find((x) => x.id === provider.input.value);
      const body = {
        prompt: prompt.input.value,
        provider: provider.input.value,
        provider_key: providerKey.input.value,
        intensity: intensity.input.value,
      };
      if (model.input.value.trim()) body.model = model.input.value.trim();
      if (p && p.needs_custom_base_url) body.custom_base_url = baseUrl.input.value.trim();
      status.textContent = 'Comparing: running both requests…';
      replace(results);
      try {
        const answer = await busy(compare, () => publicApi('POST', '/v1/playground/compare', body, key));
        if (isCurrent()) drawResults(results, answer);
      } catch (e) {
        if (isCurrent()) error.show(failureText(e));
      } finally {
        status.textContent = '';
      }
    },
  },
  error.el,
  prompt.wrap,
  h('div', { class: 'grid-3' }, provider.wrap, model.wrap, intensity.wrap),
  baseUrl.wrap,
  h('div', { class: 'grid-2' }, mintokenKey.wrap, providerKey.wrap),
  h('div', { class: 'actions' }, compare, status));

  const body = h('div', {}, loading('Loading providers…'));
  main.append(
    pageHeading('Playground'),
    h('p', { class: 'lead' }, 'Send one prompt twice, without and with the compression skill, and compare the answers. Both runs count against your monthly quota.'),
    body,
  );

  publicApi('GET', '/v1/playground/providers').then((list) => {
    if (!isCurrent()) return;
    providers = list.providers || [];
    replace(provider.input, providers.map((p) => h('option', { value: p.id }, p.id)));
    provider.input.value = list.default_provider || (providers[0] && providers[0].id) || '';
    providerChanged();
    replace(body, form, results);
  }).catch((e) => {
    if (isCurrent()) replace(body, h('p', { role: 'alert', class: 'alert' }, `Could not load the providers: ${errorMessage(e)}`));
  });
}

/** The server's message, plus what each failed run's provider said (502/504). */
function failureText(e) {
  let text = errorMessage(e);
  const runs = e.body && Array.isArray(e.body.failed_runs) ? e.body.failed_runs : [];
  if (runs.length && !text.includes(runs[0].message || '\u0000')) {
    text += ` (${runs.map((r) => `${r.run}: ${r.upstream_status ?? 'no answer'} ${r.message || ''}`.trim()).join('; ')})`;
  }
  return text;
}

function run(title, r) {
  const id = `run-${title.replace(/\W+/g, '-').toLowerCase()}`;
  return h('section', { class: 'card run', 'aria-labelledby': id },
    h('h2', { id }, title),
    h('p', { class: 'counts' },
      `Input tokens: ${num(r.input_tokens)} · Output tokens: ${num(r.output_tokens)} · ${num(r.latency_ms)} ms`,
      r.token_source && r.token_source !== 'provider' ? ' (counted with o200k_base)' : ''),
    h('div', { class: 'answer' }, r.answer || ''));
}

function drawResults(el, a) {
  const s = a.saving || {};
  const pct = s.percent === null || s.percent === undefined ? 'n/a' : `${s.percent} %`;
  const worse = Number(s.output_tokens) < 0;
  replace(el,
    h('p', { class: `saving ${worse ? 'negative' : ''}` },
      `Saved ${s.output_tokens} output tokens (${pct})`),
    h('p', { class: 'hint' },
      worse ? 'The answer with mintoken was longer this time. ' : '',
      `Net of the skill's input tokens: ${num(s.net_tokens)} tokens. Model ${a.model}, intensity ${a.intensity}. One comparison is one sample: answers vary from run to run.`),
    h('div', { class: 'side-by-side' }, run('Without mintoken', a.without_skill), run('With mintoken', a.with_skill)));
}
