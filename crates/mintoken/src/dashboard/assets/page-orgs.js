// Organizations: the list (with the caller's role) and "New organization"; one org at
// `#/orgs/<id>`: its members (invite by email, change a role, remove, leave), pending
// invitations, its keys (created with the one-time raw-key dialog, revoked) and its
// usage this month. What a button does, the API checks again: the buttons a role may
// not use are simply not shown.

import { api } from './api.js';
import { drawSummary } from './page-analytics.js';
import { showRawKey } from './page-keys.js';
import {
  alertBox, busy, errorMessage, field, h, loading, openDialog, pageHeading, replace, table, time,
} from './ui.js';

const ROLES = [['member', 'member'], ['admin', 'admin']];

/** The org id of `#/orgs/<id>`, or null on the list. */
function orgIdFromHash() {
  const m = /^#\/orgs\/([^/?#]+)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

export function render(main, ctx) {
  const id = orgIdFromHash();
  if (id) {
    renderOrg(main, id, ctx);
  } else {
    renderList(main, ctx);
  }
}

function renderList(main, { isCurrent }) {
  const newButton = h('button', { type: 'button', onclick: () => createDialog() }, 'New organization');
  const list = h('div', {}, loading('Loading your organizations…'));
  main.append(
    h('div', { class: 'page-head' }, pageHeading('Organizations'), newButton),
    h('p', { class: 'lead' }, 'Teams share keys and pool quota: requests through an organization’s keys count against its owner’s plan.'),
    list,
  );

  async function load() {
    try {
      const orgs = await api('GET', '/v1/orgs');
      if (!isCurrent()) return;
      if (!orgs.length) {
        replace(list, h('p', { class: 'empty' }, 'You are not in any organization yet. Create one with “New organization”, or ask an owner to invite your email.'));
        return;
      }
      replace(list, table('Your organizations', ['Name', 'Slug', 'Your role', 'Plan', 'Members', 'Created'],
        orgs.map((o) => [
          h('a', { href: `#/orgs/${encodeURIComponent(o.id)}` }, o.name),
          h('code', {}, o.slug),
          o.role,
          o.plan,
          String(o.member_count),
          time(o.created_at),
        ])));
    } catch (e) {
      if (isCurrent()) replace(list, h('p', { role: 'alert', class: 'alert' }, `Could not load your organizations: ${errorMessage(e)}`));
    }
  }

  function createDialog() {
    openDialog('New organization', (close) => {
      const error = alertBox();
      const name = field('Name', 'text', { required: true, maxlength: '100', autocomplete: 'off' });
      const slug = field('Slug (optional)', 'text', {
        maxlength: '50', autocomplete: 'off', spellcheck: 'false',
        'data-hint': 'Lower-case letters, digits, - and _. Derived from the name when empty.',
      });
      const submit = h('button', { type: 'submit' }, 'Create organization');
      return h('form', {
        novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          error.clear();
          const body = { name: name.input.value };
          if (slug.input.value.trim()) body.slug = slug.input.value.trim();
          try {
            const org = await busy(submit, () => api('POST', '/v1/orgs', body));
            close();
            location.hash = `#/orgs/${encodeURIComponent(org.id)}`;
          } catch (e) {
            error.show(errorMessage(e));
          }
        },
      }, error.el, name.wrap, slug.wrap,
      h('div', { class: 'actions' }, submit, h('button', { type: 'button', class: 'secondary', onclick: close }, 'Cancel')));
    }, { fallbackFocus: () => newButton });
  }

  load();
}

function renderOrg(main, id, { isCurrent, navigate }) {
  const path = `/v1/orgs/${encodeURIComponent(id)}`;
  const head = h('div', {}, loading('Loading the organization…'));
  const pageError = alertBox();
  const members = h('div', {});
  const invitations = h('div', {});
  const keys = h('div', {});
  const usage = h('div', {});
  main.append(
    h('p', {}, h('a', { href: '#/orgs' }, '← All organizations')),
    head,
    pageError.el,
    h('section', { 'aria-labelledby': 'org-members' }, h('h2', { id: 'org-members' }, 'Members'), members, invitations),
    h('section', { 'aria-labelledby': 'org-keys' }, h('h2', { id: 'org-keys' }, 'Keys'), keys),
    h('section', { 'aria-labelledby': 'org-usage' }, h('h2', { id: 'org-usage' }, 'Usage this month'), usage),
  );

  /** Runs a change, shows its error on the page, and reloads what it touched. */
  async function act(button, work) {
    pageError.clear();
    try {
      await busy(button, work);
      await load();
    } catch (e) {
      pageError.show(errorMessage(e));
    }
  }

  async function load() {
    let org;
    try {
      org = await api('GET', path);
    } catch (e) {
      if (isCurrent()) replace(head, pageHeading('Organization'), h('p', { role: 'alert', class: 'alert' }, `Could not load the organization: ${errorMessage(e)}`));
      return;
    }
    if (!isCurrent()) return;
    const manages = org.role === 'owner' || org.role === 'admin';
    const leave = h('button', {
      type: 'button',
      class: 'secondary',
      onclick: () => act(leave, async () => {
        await api('POST', `${path}/leave`);
        navigate('orgs');
      }),
    }, 'Leave organization');
    replace(head,
      h('div', { class: 'page-head' }, pageHeading(org.name), org.role === 'owner' ? '' : leave),
      h('p', { class: 'lead' }, 'Slug ', h('code', {}, org.slug), ` · your role: ${org.role} · plan: ${org.plan} (the owner’s) · ${org.member_count} member${org.member_count === 1 ? '' : 's'}`));
    drawMembers(org, manages);
    drawInvitations(org, manages);
    loadKeys(manages);
    loadUsage();
  }

  function drawMembers(org, manages) {
    const rows = org.members.map((m) => {
      let roleCell = m.role;
      if (manages && m.role !== 'owner') {
        const select = h('select', { 'aria-label': `Role of ${m.email}` },
          [...ROLES, ...(org.role === 'owner' ? [['owner', 'owner (transfer ownership)']] : [])]
            .map(([value, text]) => h('option', { value }, text)));
        select.value = m.role;
        select.addEventListener('change', () => act(select, () => api('PATCH', `${path}/members/${encodeURIComponent(m.user_id)}`, { role: select.value })));
        roleCell = select;
      }
      const remove = manages && m.role !== 'owner'
        ? h('button', {
          type: 'button',
          class: 'danger small',
          'aria-label': `Remove ${m.email}`,
          onclick: (event) => act(event.currentTarget, () => api('DELETE', `${path}/members/${encodeURIComponent(m.user_id)}`)),
        }, 'Remove')
        : '';
      return [h('span', { class: 'wrap' }, m.email), roleCell, time(m.joined_at), remove];
    });
    const parts = [table('Members', ['Email', 'Role', 'Joined', 'Actions'], rows)];
    if (manages) parts.push(inviteForm());
    replace(members, ...parts);
  }

  function inviteForm() {
    const error = alertBox();
    const email = field('Email', 'email', { required: true, autocomplete: 'off' });
    const role = field('Role', 'select', {}, ROLES);
    const submit = h('button', { type: 'submit' }, 'Invite');
    return h('form', {
      class: 'card',
      'aria-label': 'Invite by email',
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        error.clear();
        try {
          await busy(submit, () => api('POST', `${path}/members`, { email: email.input.value, role: role.input.value }));
          await load();
        } catch (e) {
          error.show(errorMessage(e));
        }
      },
    }, h('h3', {}, 'Invite by email'),
    h('p', { class: 'hint' }, 'An existing account joins at once; another email joins when it signs up.'),
    error.el, email.wrap, role.wrap, h('div', { class: 'actions' }, submit));
  }

  function drawInvitations(org, manages) {
    if (!org.invitations.length) {
      replace(invitations);
      return;
    }
    replace(invitations, table('Pending invitations', ['Email', 'Role', 'Invited', 'Actions'],
      org.invitations.map((i) => [
        h('span', { class: 'wrap' }, i.email),
        i.role,
        time(i.created_at),
        manages
          ? h('button', {
            type: 'button',
            class: 'secondary small',
            'aria-label': `Withdraw ${i.email}`,
            onclick: (event) => act(event.currentTarget, () => api('DELETE', `${path}/invitations/${encodeURIComponent(i.id)}`)),
          }, 'Withdraw')
          : '',
      ])));
  }

  async function loadKeys(manages) {
    const newKey = h('button', { type: 'button', onclick: () => createKeyDialog() }, 'New org key');
    let list;
    try {
      list = await api('GET', `/v1/auth/keys?org_id=${encodeURIComponent(id)}`);
    } catch (e) {
      if (isCurrent()) replace(keys, h('p', { role: 'alert', class: 'alert' }, `Could not load the keys: ${errorMessage(e)}`));
      return;
    }
    if (!isCurrent()) return;
    const sorted = [...list.filter((k) => k.is_active), ...list.filter((k) => !k.is_active)];
    const rows = sorted.map((k) => [
      h('code', {}, k.key_prefix),
      h('span', { class: 'wrap' }, k.name),
      k.intensity,
      time(k.created_at),
      k.last_used_at ? time(k.last_used_at) : 'Never',
      h('span', { class: k.is_active ? 'badge ok' : 'badge muted' }, k.is_active ? 'Active' : 'Revoked'),
      manages && k.is_active
        ? h('button', {
          type: 'button',
          class: 'danger small',
          'aria-label': `Revoke ${k.name}`,
          onclick: (event) => act(event.currentTarget, () => api('DELETE', `/v1/auth/keys/${encodeURIComponent(k.id)}`)),
        }, 'Revoke')
        : '',
    ]);
    replace(keys,
      manages ? h('div', { class: 'actions' }, newKey) : '',
      rows.length
        ? table('Organization keys', ['Prefix', 'Name', 'Intensity', 'Created', 'Last used', 'Status', 'Actions'], rows)
        : h('p', { class: 'empty' }, 'No keys yet.'));

    function createKeyDialog() {
      openDialog('New org key', (close) => {
        const error = alertBox();
        const name = field('Name', 'text', { required: true, maxlength: '100', autocomplete: 'off' });
        const submit = h('button', { type: 'submit' }, 'Create key');
        return h('form', {
          novalidate: true,
          onsubmit: async (event) => {
            event.preventDefault();
            error.clear();
            try {
              const created = await busy(submit, () => api('POST', '/v1/auth/keys', { name: name.input.value, org_id: id }));
              close();
              showRawKey(created, () => newKey);
              load();
            } catch (e) {
              error.show(errorMessage(e));
            }
          },
        }, error.el, name.wrap,
        h('p', { class: 'hint' }, 'Requests through this key count against the organization’s quota; every member can see it (never its raw key).'),
        h('div', { class: 'actions' }, submit, h('button', { type: 'button', class: 'secondary', onclick: close }, 'Cancel')));
      }, { fallbackFocus: () => newKey });
    }
  }

  async function loadUsage() {
    try {
      const s = await api('GET', `/v1/analytics/summary?org_id=${encodeURIComponent(id)}`);
      if (isCurrent()) drawSummary(usage, s);
    } catch (e) {
      if (isCurrent()) replace(usage, h('p', { role: 'alert', class: 'alert' }, `Could not load the usage: ${errorMessage(e)}`));
    }
  }

  load();
}
