'use strict';
// The router (#/page/args), login/logout, error and notice banners.
const app = {
  renders: 0,  // route() calls so far; only the newest one draws the page

  show(id, text) {
    const node = document.getElementById(id);
    node.textContent = text || '';
    node.hidden = !text;
  },

  async write(fn, message, next) {
    app.show('error');
    try {
      await fn();
      app.show('notice', message);
      if (next && location.hash !== next) location.hash = next;
      else await app.route();
    } catch (e) {
      app.show('error', e.message);
      if (e.status === 401) app.loggedOut();
    }
  },

  loggedOut() {
    document.getElementById('login').hidden = false;
    document.getElementById('nav').hidden = true;
    document.getElementById('logout').hidden = true;
    document.getElementById('who').textContent = '';
    dom.clear(document.getElementById('page'));
  },

  loggedIn() {
    document.getElementById('login').hidden = true;
    document.getElementById('nav').hidden = false;
    document.getElementById('logout').hidden = false;
    document.getElementById('who').textContent = 'logged in as ' + api.user;
  },

  async route() {
    const parts = (location.hash || '#/overview').slice(2).split('/').map(decodeURIComponent);
    const [name, ...args] = parts;
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.id === 'nav-' + (name === 'service' ? 'services' : name === 'config' ? 'configs' : name));
    }
    const handlers = {
      overview: () => pages.overview(),
      services: () => pages.services(),
      service: () => pages.service(args[0]),
      configs: () => configs.list(args[0]),
      config: () => configs.one(args[0], args[1]),
      hosts: () => pages.hosts(),
      access: () => access.page(),
      audit: () => access.audit(),
    };
    const page = document.getElementById('page');
    const handler = handlers[name] || handlers.overview;
    // Pages render asynchronously: a render that finishes after a newer
    // one started (the operator moved on, or a slow Overview that asks
    // every mandator) must not replace the newer page.
    const generation = ++app.renders;
    try {
      const nodes = await handler();
      if (generation !== app.renders) return;
      page.setAttribute('data-page', name);
      dom.clear(page).append(...nodes);
    } catch (e) {
      if (generation !== app.renders) return;
      if (e.status === 401) { app.loggedOut(); return; }
      app.show('error', e.message);
    }
  },

  async start() {
    document.getElementById('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      app.show('error');
      try {
        await api.login(document.getElementById('login-user').value,
          document.getElementById('login-password').value);
        document.getElementById('login-password').value = '';
        app.loggedIn();
        await app.route();
      } catch (e) {
        app.show('error', e.message);
      }
    });
    document.getElementById('logout').addEventListener('click', async () => {
      try { await api.logout(); } catch (e) { /* gone anyway */ }
      app.show('notice');
      app.loggedOut();
    });
    window.addEventListener('hashchange', () => { app.show('notice'); app.show('error'); app.route(); });
    try {
      await api.session();
      app.loggedIn();
      await app.route();
    } catch (e) {
      app.loggedOut();
    }
  },
};

document.addEventListener('DOMContentLoaded', () => app.start());
