'use strict';
// The mandator's HTTP API. The session cookie is HttpOnly and SameSite=
// Strict; every state-changing call carries the session's CSRF token.
const api = {
  csrf: '',
  user: '',
  async call(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET') headers['X-CSRF-Token'] = api.csrf;
    const resp = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const msg = data && data.error ? data.error.code + ': ' + data.error.message : 'HTTP ' + resp.status;
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return data;
  },
  get(path) { return api.call('GET', path); },
  async session() {
    const s = await api.get('/ui/session');
    api.csrf = s.csrf_token;
    api.user = s.user;
    return s;
  },
  async login(user, password) {
    const s = await api.call('POST', '/ui/login', {user, password});
    api.csrf = s.csrf_token;
    api.user = s.user;
    return s;
  },
  logout() { return api.call('POST', '/ui/logout'); },
  enc: encodeURIComponent,
};
