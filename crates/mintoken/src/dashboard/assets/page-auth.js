// Log in and sign up. Both answer a session, which api.js stores; then the app opens the
// keys page.

import { logIn, signUp } from './api.js';
import { alertBox, busy, errorMessage, field, h, pageHeading } from './ui.js';

function authForm(main, { title, submitText, action, otherText, otherHref, passwordAutocomplete, navigate, isCurrent }) {
  const error = alertBox();
  const email = field('Email', 'email', { name: 'email', autocomplete: 'email', required: true, spellcheck: 'false' });
  const password = field('Password', 'password', {
    name: 'password',
    autocomplete: passwordAutocomplete,
    required: true,
    minlength: passwordAutocomplete === 'new-password' ? '8' : null,
    'data-hint': passwordAutocomplete === 'new-password' ? 'At least 8 characters.' : null,
  });
  const submit = h('button', { type: 'submit' }, submitText);
  const form = h('form', {
    class: 'card auth-form',
    novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      error.clear();
      if (!email.input.value.trim() || !password.input.value) {
        error.show('Enter your email and password.');
        (email.input.value.trim() ? password.input : email.input).focus();
        return;
      }
      try {
        await busy(submit, () => action(email.input.value.trim(), password.input.value));
        if (isCurrent()) navigate('keys');
      } catch (e) {
        error.show(errorMessage(e));
      }
    },
  }, pageHeading(title), error.el, email.wrap, password.wrap, h('div', { class: 'actions' }, submit),
  h('p', {}, h('a', { href: otherHref }, otherText)));
  main.append(h('div', { class: 'auth-page' }, form));
}

export function renderLogin(main, ctx) {
  authForm(main, {
    ...ctx,
    title: 'Log in',
    submitText: 'Log in',
    action: logIn,
    otherText: 'Create an account',
    otherHref: '#/signup',
    passwordAutocomplete: 'current-password',
  });
}

export function renderSignup(main, ctx) {
  authForm(main, {
    ...ctx,
    title: 'Create your account',
    submitText: 'Sign up',
    action: signUp,
    otherText: 'Log in instead',
    otherHref: '#/login',
    passwordAutocomplete: 'new-password',
  });
}
