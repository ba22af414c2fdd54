'use strict';
// Access (API tokens and users, admin only) and the Audit log. Each page is
// an async function that returns the nodes to show (app.js routes to them).
const access = {
  roleSelect(id) {
    return dom.el('select', {id, 'aria-label': 'role'},
      ['viewer', 'publisher', 'admin'].map((r) => dom.el('option', {value: r}, r)));
  },

  // "payments, team-*" -> ["payments", "team-*"].
  patterns(text) {
    return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  },

  scope(x) {
    return x.role + (x.namespaces && x.namespaces.length ? ' of ' + x.namespaces.join(', ') : '');
  },

  when(ms) { return ms ? new Date(ms).toISOString().replace('.000Z', 'Z') : ''; },

  async page() {
    const {el, table} = dom;
    let tokens;
    let users;
    try {
      [tokens, users] = await Promise.all([
        api.get('/api/v1/auth/tokens'), api.get('/api/v1/auth/users')]);
    } catch (e) {
      if (e.status === 403) {
        return [el('h1', {}, 'Access'),
          el('p', {id: 'access-denied'}, 'Tokens and users are managed by admins; you are ' + api.user + '.')];
      }
      throw e;
    }
    const tokenName = el('input', {id: 'token-name', placeholder: 'name (ci-deploy)', 'aria-label': 'token name'});
    const tokenRole = access.roleSelect('token-role');
    const tokenNs = el('input', {id: 'token-namespaces', placeholder: 'namespaces (publisher): payments, team-*',
      'aria-label': 'token namespaces'});
    const created = el('div', {id: 'token-created'});
    const tokenForm = el('form', {class: 'search', id: 'token-form', onsubmit: async (ev) => {
      ev.preventDefault();
      app.show('error');
      try {
        const r = await api.call('POST', '/api/v1/auth/tokens', {
          name: tokenName.value, role: tokenRole.value, namespaces: access.patterns(tokenNs.value)});
        // Shown once: the page keeps it until the operator moves on.
        dom.clear(created).append(el('p', {class: 'notice'},
          'Token ' + r.token.name + ' (' + r.token.id + ') created. Copy it now; it is never shown again: ',
          el('code', {id: 'new-token'}, r.bearer)));
        await access.refreshTokens(tokenTable);
      } catch (e) { app.show('error', e.message); }
    }}, tokenName, ' ', tokenRole, ' ', tokenNs, ' ', el('button', {type: 'submit'}, 'Create token'));
    const tokenTable = el('div', {id: 'tokens-box'});
    access.drawTokens(tokenTable, tokens.tokens);

    const userName = el('input', {id: 'user-name', placeholder: 'user name', 'aria-label': 'user name'});
    const userRole = access.roleSelect('user-role');
    const userNs = el('input', {id: 'user-namespaces', placeholder: 'namespaces (publisher)', 'aria-label': 'user namespaces'});
    const userPassword = el('input', {id: 'user-password', type: 'password', placeholder: 'password (12+ characters)',
      autocomplete: 'new-password', 'aria-label': 'user password'});
    const userForm = el('form', {class: 'search', id: 'user-form', onsubmit: (ev) => {
      ev.preventDefault();
      app.write(() => api.call('POST', '/api/v1/auth/users', {
        name: userName.value, role: userRole.value, namespaces: access.patterns(userNs.value),
        password: userPassword.value}), 'User ' + userName.value + ' created', '#/access');
    }}, userName, ' ', userRole, ' ', userNs, ' ', userPassword, ' ', el('button', {type: 'submit'}, 'Create user'));
    const userRows = users.users.map((u) => [u.name, access.scope(u), access.when(u.created_ms), u.created_by,
      el('button', {type: 'button', class: 'danger', 'data-user': u.name, onclick: () => {
        if (!confirm('Delete user ' + u.name + '?')) return;
        app.write(() => api.call('DELETE', '/api/v1/auth/users/' + api.enc(u.name)), 'User ' + u.name + ' deleted');
      }}, 'Delete')]);
    return [
      el('h1', {}, 'Access'),
      el('p', {class: 'muted'}, 'Roles: viewer reads everything; publisher also writes configs and gray releases ' +
        'in its namespaces (patterns with * and ?); admin does everything. The bootstrap admin is the ' +
        '--admin_password_file user.'),
      el('h2', {}, 'API tokens'),
      tokenForm, created, tokenTable,
      el('h2', {}, 'Users'),
      userForm,
      userRows.length ? table(['User', 'Role', 'Created', 'By', ''], userRows, {id: 'users'})
        : el('p', {id: 'users-empty'}, 'No users yet.'),
    ];
  },

  drawTokens(box, tokens) {
    const rows = tokens.map((t) => [t.id, t.name, access.scope(t), access.when(t.created_ms), t.created_by,
      dom.el('button', {type: 'button', class: 'danger', 'data-token': t.id, onclick: async () => {
        if (!confirm('Revoke token ' + t.name + '? Every mandator refuses it within seconds.')) return;
        app.show('error');
        try {
          await api.call('DELETE', '/api/v1/auth/tokens/' + api.enc(t.id));
          app.show('notice', 'Token ' + t.name + ' revoked');
          await access.refreshTokens(box);
        } catch (e) { app.show('error', e.message); }
      }}, 'Revoke')]);
    dom.clear(box).append(rows.length ? dom.table(['Id', 'Name', 'Role', 'Created', 'By', ''], rows, {id: 'tokens'})
      : dom.el('p', {id: 'tokens-empty'}, 'No tokens yet.'));
  },

  async refreshTokens(box) {
    access.drawTokens(box, (await api.get('/api/v1/auth/tokens')).tokens);
  },

  // The audit log: filters, newest first, Next by cursor.
  async audit() {
    const {el, table} = dom;
    const who = el('input', {id: 'audit-who', placeholder: 'who', 'aria-label': 'who'});
    const what = el('input', {id: 'audit-what', placeholder: 'path or action', 'aria-label': 'what'});
    const since = el('select', {id: 'audit-since', 'aria-label': 'since'},
      [['', 'any time'], ['3600s', 'last hour'], ['86400s', 'last day'], ['604800s', 'last week']]
        .map(([v, t]) => el('option', {value: v}, t)));
    const refused = el('input', {id: 'audit-refused', type: 'checkbox', 'aria-label': 'refused only'});
    const box = el('div', {id: 'audit-box'});
    const cursors = [''];
    const show = async (i) => {
      const q = new URLSearchParams({limit: '50'});
      if (who.value) q.set('who', who.value);
      if (what.value) q.set('what', what.value);
      if (since.value) q.set('since', since.value);
      if (refused.checked) q.set('refused', '1');
      if (cursors[i]) q.set('cursor', cursors[i]);
      const data = await api.get('/api/v1/audit?' + q);
      cursors.length = i + 1;
      if (data.next_cursor) cursors.push(data.next_cursor);
      const rows = data.records.map((r) => [access.when(r.time_ms), r.who || '(unauthenticated)', r.action,
        r.what, dom.state(r.http_status < 400, String(r.http_status)), r.client,
        r.datacenter + '/' + r.mandator,
        r.detail + (r.suppressed ? ' (+' + r.suppressed + ' refused not recorded)' : '') +
          (r.http_status >= 400 ? ' ' + r.result : '')]);
      dom.clear(box).append(
        rows.length ? table(['When (UTC)', 'Who', 'Action', 'What', 'Status', 'From', 'Received by', 'Detail'],
          rows, {id: 'audit'}) : el('p', {id: 'audit-empty'}, 'No records match.'),
        el('div', {class: 'pager'},
          el('button', {type: 'button', id: 'audit-prev', disabled: i === 0, onclick: () => run(i - 1)}, '← Newer'),
          el('button', {type: 'button', id: 'audit-next', disabled: !data.next_cursor, onclick: () => run(i + 1)},
            'Older →')));
    };
    const run = async (i) => {
      try { await show(i); } catch (e) { app.show('error', e.message); }
    };
    const form = searchForm('audit-search', [who, what, since, refused], () => run(0));
    since.addEventListener('change', () => run(0));
    await show(0);
    return [el('h1', {}, 'Audit log'),
      el('p', {class: 'muted'}, 'Every write and every refused attempt, newest first: who (the authenticated ' +
        'principal), from where, what, and the result. Values are never recorded, only their SHA-256.'),
      form, box];
  },
};
