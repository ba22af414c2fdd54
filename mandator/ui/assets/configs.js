'use strict';
// Configs: namespaces, keys, one value (text or pretty JSON), edit with
// compare-and-set, history with a diff between two versions, rollback, and
// the key's gray release (start to hosts or a percentage, promote, abort).
const configs = {
  // Namespaces, searchable and paged; the keys of one namespace
  // (#/configs/<ns>, else the first one listed), searchable and paged.
  async list(selected) {
    const out = [dom.el('h1', {}, 'Configs')];
    const ns = dom.el('input', {id: 'new-ns', placeholder: 'namespace', value: selected || ''});
    const key = dom.el('input', {id: 'new-key', placeholder: 'key'});
    const value = dom.el('textarea', {id: 'new-value', placeholder: 'value'});
    out.push(dom.el('div', {class: 'card'}, dom.el('h2', {}, 'New key'),
      ns, ' ', key, value,
      dom.el('button', {type: 'button', id: 'new-create', onclick: () => app.write(
        () => api.call('PUT', configs.path(ns.value, key.value), {value: value.value, expected_revision: 0, author: api.user}),
        'created ' + ns.value + '/' + key.value,
        '#/config/' + api.enc(ns.value) + '/' + api.enc(key.value))}, 'Create')));
    const nsQ = dom.el('input', {id: 'namespaces-q', placeholder: 'namespace starts with', 'aria-label': 'namespace prefix'});
    let firstNs = '';
    const namespaces = pagedTable({
      id: 'namespaces', path: '/api/v1/configs',
      params: () => ({prefix: nsQ.value}),
      rowsOf: (data) => { firstNs = firstNs || data.namespaces[0] || ''; return data.namespaces; },
      headers: ['namespace'],
      row: (name) => [dom.link('#/configs/' + api.enc(name), name,
        {class: 'namespace-link' + (name === selected ? ' active' : '')})],
      empty: 'No namespace matches.',
    });
    await namespaces.first();
    out.push(dom.el('h2', {}, 'Namespaces'),
      searchForm('namespaces-search', [nsQ], namespaces.search), namespaces.box);
    const shown = selected || firstNs;
    if (!shown) return out;
    const keyPrefix = dom.el('input', {id: 'keys-prefix', placeholder: 'key starts with', 'aria-label': 'key prefix'});
    const keyQ = dom.el('input', {id: 'keys-q', placeholder: 'key contains', 'aria-label': 'key contains'});
    const keys = pagedTable({
      id: 'keys', path: '/api/v1/configs/' + api.enc(shown),
      params: () => ({prefix: keyPrefix.value, q: keyQ.value}),
      rowsOf: (data) => data.keys,
      headers: ['key', 'revision', 'version', 'size'],
      row: (k) => [dom.link('#/config/' + api.enc(shown) + '/' + api.enc(k.key), k.key,
        {class: 'config-link'}), k.revision, k.version, k.size],
      empty: 'No key matches.',
    });
    await keys.first();
    out.push(dom.el('h2', {id: 'keys-of'}, 'Keys of ', shown),
      searchForm('keys-search', [keyPrefix, keyQ], keys.search), keys.box);
    return out;
  },

  path(ns, key) { return '/api/v1/configs/' + api.enc(ns) + '/' + api.enc(key); },

  // The value as shown: pretty JSON when it parses, else the text itself.
  pretty(c) {
    if (c.encoding !== 'utf8') return '(binary, base64) ' + c.value;
    try { return JSON.stringify(JSON.parse(c.value), null, 2); } catch (e) { return c.value; }
  },

  // The key's gray release record, or null when there is none (404).
  async gray(ns, key) {
    try {
      return await api.get(configs.path(ns, key) + '/gray');
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  },

  // The Gray release card: the active release with Promote and Abort, or a
  // form to start one (docs/http-api.md, "Gray release").
  grayCard(ns, key, c, g) {
    const path = configs.path(ns, key) + '/gray';
    const title = dom.el('h2', {}, 'Gray release');
    if (g) {
      const to = [];
      if (g.hosts && g.hosts.length) to.push('hosts ' + g.hosts.join(', '));
      if (g.percentage > 0) to.push(g.percentage + ' % of hosts');
      return dom.el('div', {class: 'card', id: 'gray'}, title,
        dom.el('p', {id: 'gray-status'},
          g.active ? 'active' : 'finishing (promote or abort being committed)',
          ' · gray revision ', dom.el('span', {id: 'gray-revision'}, g.revision),
          ' (the others stay at revision ', g.base_revision, ')',
          ' · to ', dom.el('span', {id: 'gray-targets'}, to.join(' and ') || 'no hosts')),
        dom.el('p', {class: 'muted'}, g.size, ' bytes', g.content_type ? ' · ' + g.content_type : '',
          ' · by ', g.author || 'unknown', g.comment ? ' — ' + g.comment : ''),
        dom.el('pre', {class: 'value', id: 'gray-value'}, configs.pretty(g)),
        dom.el('p', {class: 'muted'}, 'Promote: every host gets the gray value (a new revision). ',
          'Abort: the gray hosts go back to the current value (a new revision).'),
        dom.el('button', {type: 'button', id: 'gray-promote', disabled: g.active ? null : 'disabled',
          onclick: () => app.write(() => api.call('POST', path + '/promote', {author: api.user}),
            'promoted the gray release of ' + ns + '/' + key)}, 'Promote'), ' ',
        dom.el('button', {type: 'button', id: 'gray-abort', disabled: g.active ? null : 'disabled',
          onclick: () => app.write(() => api.call('POST', path + '/abort', {author: api.user}),
            'aborted the gray release of ' + ns + '/' + key)}, 'Abort'));
    }
    const hosts = dom.el('input', {id: 'gray-hosts', placeholder: 'host ids: h1,h2'});
    const pct = dom.el('input', {id: 'gray-percentage', type: 'number', min: 0, max: 100,
      placeholder: '% of hosts'});
    const value = dom.el('textarea', {id: 'gray-new-value', placeholder: 'gray value'});
    const start = () => {
      const body = {value: value.value, expected_revision: c.revision, author: api.user};
      const list = hosts.value.split(',').map((h) => h.trim()).filter((h) => h);
      if (list.length) body.hosts = list;
      if (pct.value !== '') body.percentage = Number(pct.value);
      return api.call('POST', path, body);
    };
    return dom.el('div', {class: 'card', id: 'gray'}, title,
      dom.el('p', {class: 'muted'}, 'No gray release. Start one: the value goes to the listed hosts ',
        'and/or this percentage of all hosts first; the others keep revision ', c.revision,
        '. Edits, deletes and rollbacks are refused until it is promoted or aborted.'),
      hosts, ' ', pct, value,
      dom.el('button', {type: 'button', id: 'gray-start',
        onclick: () => app.write(start, 'started a gray release of ' + ns + '/' + key)}, 'Start gray release'));
  },

  async one(ns, key) {
    const c = await api.get(configs.path(ns, key));
    const hist = await api.get(configs.path(ns, key) + '/history?limit=20');
    const gray = await configs.gray(ns, key);
    // The server refuses edits and rollbacks (409) while a gray release is
    // active; say so before the click rather than after.
    const locked = gray && gray.active;
    const lockedWhy = locked ? 'a gray release is active: promote or abort it first' : null;
    const editor = dom.el('textarea', {id: 'edit-value'});
    editor.value = c.encoding === 'utf8' ? c.value : '';
    const versions = hist.versions;
    const pick = (id, def) => dom.el('select', {id},
      versions.map((v, i) => dom.el('option', {value: i, selected: i === def ? 'selected' : null},
        'revision ' + v.revision + ' (v' + v.version + ')')));
    const from = pick('diff-from', Math.min(1, versions.length - 1));
    const to = pick('diff-to', 0);
    const diffOut = dom.el('div', {class: 'diff', id: 'diff'});
    const showDiff = () => configs.renderDiff(diffOut,
      configs.pretty(versions[from.value]), configs.pretty(versions[to.value]));
    from.addEventListener('change', showDiff);
    to.addEventListener('change', showDiff);
    if (versions.length) showDiff();
    return [dom.el('h1', {}, 'Config ', ns, '/', key),
      dom.el('p', {class: 'muted'}, 'revision ', dom.el('span', {id: 'config-revision'}, c.revision),
        ' · version ', c.version, ' · ', c.size, ' bytes · ', c.content_type,
        ' · by ', c.author || 'unknown', c.comment ? ' — ' + c.comment : ''),
      dom.el('pre', {class: 'value', id: 'config-value'}, configs.pretty(c)),
      dom.el('div', {class: 'card'}, dom.el('h2', {}, 'Edit'),
        dom.el('p', {class: 'muted'}, 'Saved only if the key is still at revision ', c.revision,
          ' (compare-and-set); otherwise reload and edit again.'),
        editor,
        locked ? dom.el('p', {class: 'muted', id: 'edit-locked'}, 'Editing is locked: ', lockedWhy, '.') : '',
        dom.el('button', {type: 'button', id: 'save', disabled: locked ? 'disabled' : null, title: lockedWhy,
          onclick: () => app.write(
          () => api.call('PUT', configs.path(ns, key), {value: editor.value, expected_revision: c.revision, author: api.user}),
          'saved ' + ns + '/' + key)}, 'Save')),
      configs.grayCard(ns, key, c, gray),
      dom.el('h2', {}, 'History'),
      dom.table(['revision', 'version', 'author', 'when', 'value', ''],
        versions.map((v) => [v.revision, v.version, v.author || '', new Date(v.mtime_ms).toISOString(),
          dom.el('pre', {class: 'value'}, configs.pretty(v)),
          v.revision === c.revision ? dom.el('span', {class: 'muted'}, 'current') :
            dom.el('button', {type: 'button', class: 'rollback', 'data-revision': v.revision,
              disabled: locked ? 'disabled' : null, title: lockedWhy,
              onclick: () => app.write(() => api.call('POST', configs.path(ns, key) + '/rollback',
                {to_revision: v.revision, expected_revision: c.revision, author: api.user}),
              'rolled back ' + ns + '/' + key + ' to revision ' + v.revision)}, 'Roll back to this')]),
        {id: 'history'}),
      dom.el('h2', {}, 'Diff'),
      dom.el('p', {}, 'from ', from, ' to ', to),
      diffOut];
  },

  // A line diff (longest common subsequence); fine for config-sized values.
  renderDiff(node, a, b) {
    const x = a.split('\n');
    const y = b.split('\n');
    if (x.length * y.length > 4000000) {
      dom.clear(node).append('(too large to diff in the browser)');
      return;
    }
    const n = x.length;
    const m = y.length;
    const lcs = Array.from({length: n + 1}, () => new Array(m + 1).fill(0));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    const lines = [];
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) { lines.push(dom.el('div', {}, '  ' + x[i])); i++; j++; }
      else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) { lines.push(dom.el('div', {class: 'del'}, '- ' + x[i])); i++; }
      else { lines.push(dom.el('div', {class: 'add'}, '+ ' + y[j])); j++; }
    }
    dom.clear(node).append(...lines);
  },
};
