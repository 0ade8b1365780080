// Entry point: the hash router and the page shell (navigation, signed-in email, log out).
// Each page module exports `render(main, { navigate, isCurrent })`, which fills <main>;
// a page that loads data checks `isCurrent()` before drawing, so a fast second click
// never shows the first page's late answer.

import { logOut, onSessionChange, resumeSession, session } from './api.js';
import * as auth from './page-auth.js';
import * as keys from './page-keys.js';
import * as rules from './page-rules.js';
import * as analytics from './page-analytics.js';
import * as playground from './page-playground.js';
import * as plan from './page-plan.js';
import * as orgs from './page-orgs.js';

const PUBLIC = { login: auth.renderLogin, signup: auth.renderSignup };
const PRIVATE = {
  keys: keys.render,
  rules: rules.render,
  analytics: analytics.render,
  playground: playground.render,
  plan: plan.render,
  orgs: orgs.render,
};
const TITLES = {
  login: 'Log in', signup: 'Create your account', keys: 'API keys', rules: 'Custom rules',
  analytics: 'Analytics', playground: 'Playground', plan: 'Plan', orgs: 'Organizations',
};
const HOME = 'keys';

const main = document.getElementById('main');
let generation = 0;
// The first render leaves focus where the browser put it; later navigations move it to
// the new page's heading so screen-reader users hear where they are.
let shouldFocusHeading = false;

/** The route named by the hash, '' when none (or not one of ours: `#/toString` is not). */
function currentRoute() {
  const m = /^#\/([a-z]+)/.exec(location.hash);
  const route = m ? m[1] : '';
  return Object.hasOwn(PUBLIC, route) || Object.hasOwn(PRIVATE, route) ? route : '';
}

export function navigate(route) {
  if (currentRoute() === route) {
    render();
  } else {
    location.hash = `#/${route}`;
  }
}

function updateShell(current) {
  const signedIn = session();
  document.getElementById('session').hidden = !signedIn;
  document.getElementById('session-email').textContent = signedIn ? signedIn.email || '' : '';
  for (const link of document.querySelectorAll('[data-route]')) {
    if (link.dataset.route === current) {
      link.setAttribute('aria-current', 'page');
    } else {
      link.removeAttribute('aria-current');
    }
  }
}

function render() {
  let route = currentRoute();
  const signedIn = Boolean(session());
  if (!PUBLIC[route] && !PRIVATE[route]) {
    route = signedIn ? HOME : 'login';
    history.replaceState(null, '', `#/${route}`);
  } else if (PRIVATE[route] && !signedIn) {
    route = 'login';
    history.replaceState(null, '', '#/login');
  } else if (PUBLIC[route] && signedIn) {
    route = HOME;
    history.replaceState(null, '', `#/${HOME}`);
  }
  generation += 1;
  const mine = generation;
  const isCurrent = () => mine === generation;
  updateShell(route);
  document.title = `${TITLES[route]} · mintoken`;
  // Dialogs of the page being left go with it.
  for (const d of document.querySelectorAll('dialog')) d.close();
  main.replaceChildren();
  (PUBLIC[route] || PRIVATE[route])(main, { navigate, isCurrent });
  const heading = main.querySelector('h1');
  if (heading && shouldFocusHeading) heading.focus();
  shouldFocusHeading = true;
}

window.addEventListener('hashchange', render);

onSessionChange((value) => {
  if (!value) {
    for (const d of document.querySelectorAll('dialog')) d.close();
    if (!PUBLIC[currentRoute()]) {
      location.hash = '#/login';
    } else {
      updateShell(currentRoute());
    }
  } else {
    updateShell(currentRoute());
  }
});

// Clearing the session sends the app to the log-in page (onSessionChange above).
const logoutButton = document.getElementById('logout');
logoutButton.addEventListener('click', async () => {
  logoutButton.disabled = true;
  try {
    await logOut();
  } finally {
    logoutButton.disabled = false;
  }
});

// The skip link must not change the hash (that is the router's).
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

resumeSession();
render();
