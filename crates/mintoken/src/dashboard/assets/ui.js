// Small DOM helpers shared by the pages: an element builder (text is always set as
// text, never parsed as HTML), dialogs, form fields, tables and number/date formats.

let nextId = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix = 'id') {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * h('button', {type: 'button', onclick: fn, class: 'x'}, 'text', child, …)
 * Attributes starting with "on" become listeners; `false`/null/undefined are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else if (name in el && typeof value !== 'string' && name !== 'list') {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The page heading: an h1 that receives focus after navigation. */
export function pageHeading(text) {
  return h('h1', { tabindex: '-1', class: 'page-heading' }, text);
}

/** An error box read out when it appears; empty and hidden until `show` is called. */
export function alertBox() {
  const el = h('div', { role: 'alert', class: 'alert' });
  el.hidden = true;
  return {
    el,
    show(message) {
      el.textContent = message;
      el.hidden = false;
    },
    clear() {
      el.textContent = '';
      el.hidden = true;
    },
  };
}

export function loading(text = 'Loading…') {
  return h('p', { role: 'status', class: 'loading' }, text);
}

/**
 * A labelled field: returns {wrap, input}. `kind` is an input type, 'select' or
 * 'textarea'; `options` are [value, text] pairs for a select; a `data-hint` attribute
 * becomes a hint below the field, linked with aria-describedby.
 */
export function field(label, kind, attributes = {}, options = []) {
  const { 'data-hint': hint, ...attrs } = attributes;
  const id = attrs.id || uid('f');
  let input;
  if (kind === 'select') {
    input = h('select', { ...attrs, id }, options.map(([value, text]) => h('option', { value }, text)));
  } else if (kind === 'textarea') {
    input = h('textarea', { ...attrs, id });
  } else {
    input = h('input', { ...attrs, id, type: kind });
  }
  let hintEl = null;
  if (hint) {
    hintEl = h('span', { class: 'hint', id: `${id}-hint` }, hint);
    input.setAttribute('aria-describedby', hintEl.id);
  }
  if (kind === 'checkbox') {
    return { wrap: h('div', { class: 'field checkbox' }, input, h('label', { for: id }, label), hintEl), input };
  }
  return { wrap: h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl), input };
}

/**
 * Opens a modal <dialog> labelled by its heading. Esc closes it (the browser's cancel),
 * focus returns to where it was (or `fallbackFocus`) and the element is removed.
 * `build(close)` returns the dialog's content after the heading.
 */
export function openDialog(title, build, { fallbackFocus } = {}) {
  const opener = document.activeElement;
  const headingId = uid('dlg');
  const dialog = h('dialog', { 'aria-labelledby': headingId, class: 'dialog' });
  const close = () => dialog.close();
  dialog.append(h('h2', { id: headingId }, title));
  append(dialog, [build(close, dialog)]);
  dialog.addEventListener('close', () => {
    dialog.remove();
    const target = opener && opener.isConnected ? opener : (fallbackFocus && fallbackFocus());
    if (target && typeof target.focus === 'function') target.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus]') || dialog.querySelector('input, select, textarea, button');
  if (first) first.focus();
  return dialog;
}

/**
 * Marks a button busy (disabled, aria-busy) while `work` runs. Disabling a focused
 * button drops the focus, so it is given back afterwards if nothing else took it.
 */
export async function busy(button, work) {
  const hadFocus = document.activeElement === button;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    const active = document.activeElement;
    const lost = !active || active === document.body || active === button.closest('dialog');
    if (hadFocus && lost && button.isConnected) button.focus();
  }
}

/** A table with a caption, wrapped so it scrolls sideways on narrow screens. */
export function table(caption, headers, rows) {
  const t = h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((th) => h('th', { scope: 'col' }, th)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))));
  // Focusable so keyboard users can scroll a wide table sideways.
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption }, t);
}

const numberFormat = new Intl.NumberFormat();
export function num(n) {
  return n === null || n === undefined || Number.isNaN(Number(n)) ? '—' : numberFormat.format(Number(n));
}

export function usd(n) {
  if (n === null || n === undefined) return '—';
  const abs = Math.abs(Number(n));
  // Small amounts keep two significant digits, so $0.000034 does not read as $0.00.
  const small = abs !== 0 && abs < 0.01;
  return new Intl.NumberFormat(undefined, {
    style: 'currency',
    currency: 'USD',
    ...(small ? { maximumSignificantDigits: 2 } : { minimumFractionDigits: 2, maximumFractionDigits: abs < 1 ? 4 : 2 }),
  }).format(Number(n));
}

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const utcDateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });

/**
 * A <time> in the browser's locale and time zone; '—' for null. `utcDate`: the UTC
 * calendar date only (for UTC-aligned periods such as the quota month).
 */
export function time(iso, { utcDate = false } = {}) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return h('time', { datetime: iso }, (utcDate ? utcDateFormat : dateTimeFormat).format(d));
}

export function formatDate(iso, options) {
  return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
}

/** The message to show for a failed call. */
export function errorMessage(e) {
  return (e && (e.detail || e.message)) || 'Something went wrong.';
}
