'use strict';
// Overview, Services, one service, Hosts. Each page is an async function
// that returns the nodes to show.
const {el, table, link, state, ago} = dom;

function statusOf(m) { return m.status || {}; }

// "0.9.0 (1a2b3c4d)" from a daemon's status: its release and the first 8
// characters of its commit ("dev" in unstamped builds).
function versionOf(s) {
  if (!s.version) return '';
  return s.version + ' (' + String(s.commit || '?').slice(0, 8) + ')';
}

// A paged, searchable table over one of the API's paged listings (limit,
// page_token -> next_page_token, total). `params()` gives the filters of
// the moment; Next and Previous walk the pages by their tokens, a new
// search starts again at the first page. Only one page is ever fetched.
function pagedTable({id, path, params, rowsOf, headers, row, empty}) {
  const box = el('div', {class: 'paged', id: id + '-box'});
  const size = el('select', {id: id + '-size', 'aria-label': 'rows per page'},
    [10, 50, 200].map((n) => el('option', {value: n, selected: n === 50}, n + ' per page')));
  const tokens = [''];  // the token of every page reached so far
  const show = async (i) => {
    const q = new URLSearchParams(params());
    for (const [k, v] of [...q.entries()]) if (v === '' || v === 'false') q.delete(k);
    q.set('limit', size.value);
    if (tokens[i]) q.set('page_token', tokens[i]);
    const data = await api.get(path + '?' + q);
    const rows = rowsOf(data);
    tokens.length = i + 1;
    if (data.next_page_token) tokens.push(data.next_page_token);
    const first = i * Number(size.value) + 1;
    dom.clear(box).append(
      el('p', {class: 'muted', id: id + '-count'}, rows.length === 0 ? '0 of ' + data.total
        : first + '–' + (first + rows.length - 1) + ' of ' + data.total),
      rows.length ? table(headers, rows.map(row), {id}) : el('p', {id: id + '-empty'}, empty),
      el('div', {class: 'pager'},
        el('button', {type: 'button', id: id + '-prev', disabled: i === 0, onclick: () => run(i - 1)}, '← Previous'),
        el('button', {type: 'button', id: id + '-next', disabled: !data.next_page_token,
          onclick: () => run(i + 1)}, 'Next →'), ' ', size));
  };
  const run = async (i) => {
    try { await show(i); } catch (e) { app.show('error', e.message); }
  };
  size.addEventListener('change', () => run(0));
  return {box, first: () => show(0), search: () => run(0)};
}

// A search form: its inputs, and `go` run on submit (and on a checkbox's
// change).
function searchForm(id, inputs, go) {
  for (const i of inputs) if (i.type === 'checkbox') i.addEventListener('change', go);
  return el('form', {class: 'search', id, onsubmit: (ev) => { ev.preventDefault(); go(); }},
    inputs.flatMap((i) => i.type === 'checkbox' ? [el('label', {}, i, ' ', i.getAttribute('aria-label'))] : [i, ' ']),
    el('button', {type: 'submit'}, 'Search'));
}

// "12 s", "4 min", "3 h" for an age in ms.
function span(ms) {
  if (ms === null || ms === undefined) return 'unknown';
  const s = ms / 1000;
  if (s < 90) return s.toFixed(0) + ' s';
  if (s < 5400) return (s / 60).toFixed(0) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}

const pages = {
  async overview() {
    const data = await api.get('/api/v1/cluster');
    const out = [el('h1', {}, 'Overview')];
    for (const dc of data.datacenters) {
      const mandators = dc.mandators.map(statusOf);
      const leader = mandators.find((s) => s.is_leader);
      // Every daemon's version in this DC: more than one means an upgrade
      // under way (or a forgotten host).
      const versions = [...new Set(mandators.concat(dc.distributors.map(statusOf))
        .map(versionOf).filter((v) => v))].sort();
      const any = leader || mandators.find((s) => s.datacenter) || {};
      const card = el('div', {class: 'card dc', 'data-dc': dc.name},
        el('h2', {}, 'Datacenter ', dc.name, dc.is_main ? ' (main)' : ' (slave)',
          dc.self ? ' — this mandator\'s' : ''),
        el('p', {}, 'Leader: ', el('strong', {class: 'leader'}, leader ? leader.member_id : 'none known'),
          ' · revision: ', el('strong', {class: 'revision'}, any.revision ?? 'unknown'),
          dc.is_main ? '' : [' · replication lag: ',
            el('strong', {}, leader && leader.replication_lag_revisions !== undefined
              ? leader.replication_lag_revisions + ' revisions, ' +
                (leader.replication_lag_seconds ?? 0).toFixed(1) + ' s' : 'unknown')]),
        el('p', {}, 'Versions: ', el('strong', {class: 'versions'}, versions.length ? versions.join(', ') : 'unknown'),
          versions.length > 1 ? [' ', state(false, 'mixed')] : ''),
        el('p', {}, 'ZooKeeper ', dc.zookeeper.ensemble, ': ',
          state(dc.zookeeper.reachable, dc.zookeeper.reachable ? 'reachable' : 'unreachable'),
          dc.zookeeper.error ? ' (' + dc.zookeeper.error + ')' : ''),
        el('h3', {}, 'Mandators'),
        table(['id', 'HTTP', 'version', 'leader', 'revision', 'ZooKeeper session', 'answer'],
          dc.mandators.map((m) => {
            const s = statusOf(m);
            return [m.id, m.http_address, versionOf(s), s.is_leader ? 'yes' : 'no', s.revision ?? '',
              s.zookeeper ? state(s.zookeeper === 'connected', s.zookeeper) : '',
              m.error ? state(false, m.error) : state(true, 'ok')];
          })),
        el('h3', {}, 'Distributors'),
        dc.distributors.length === 0 ? el('p', {class: 'muted'}, 'none registered') :
          table(['id', 'HTTP', 'version', 'connected agents', 'revision', 'stale', 'answer'],
            dc.distributors.map((d) => {
              const s = statusOf(d);
              return [d.id, d.http_address, versionOf(s), s.connected_agents ?? '', s.revision ?? '',
                s.stale === undefined ? '' : state(!s.stale, s.stale ? 'stale: ' + (s.stale_reason || '') : 'fresh'),
                d.error ? state(false, d.error) : state(true, 'ok')];
            })));
      out.push(card);
    }
    return out;
  },

  async services() {
    const q = el('input', {id: 'services-q', placeholder: 'name contains', 'aria-label': 'name contains'});
    const st = el('select', {id: 'services-state', 'aria-label': 'instances'},
      [['', 'any state'], ['unhealthy', 'with unhealthy instances'], ['critical', 'with critical checks'],
        ['suspect', 'with suspect instances'], ['disabled', 'with disabled instances']]
        .map(([v, t]) => el('option', {value: v}, t)));
    let source = '';
    const list = pagedTable({
      id: 'services', path: '/api/v1/services',
      params: () => ({q: q.value, state: st.value}),
      rowsOf: (data) => { source = data.source; return data.services; },
      headers: ['service', 'instances', 'per datacenter and state', 'critical checks', 'revision'],
      row: (s) => {
        const per = Object.entries(s.datacenters).map(([dc, states]) =>
          dc + ': ' + Object.entries(states).map(([k, n]) => n + ' ' + k).join(', '));
        return [link('#/service/' + api.enc(s.name), s.name, {class: 'service-link'}),
          s.instances, per.join(' · '), s.critical ? state(false, s.critical) : '0', s.revision];
      },
      empty: 'No service matches.',
    });
    st.addEventListener('change', list.search);
    await list.first();
    return [el('h1', {}, 'Services'),
      el('p', {class: 'muted'}, 'source: ', source),
      searchForm('services-search', [q, st], list.search), list.box];
  },

  async service(name) {
    const data = await api.get('/api/v1/services/' + api.enc(name));
    const ages = data.heartbeat_age_ms || {};
    const rows = data.table.instances.map((i) => {
      const weight = el('input', {type: 'number', min: 1, max: 10000, value: i.weight, size: 6,
        'aria-label': 'weight of ' + i.id});
      const path = '/api/v1/services/' + api.enc(name) + '/instances/' + api.enc(i.id) + '/override';
      const act = async (method, body, what) => {
        await app.write(() => api.call(method, path, body), what + ' for ' + i.id +
          ' (the route table follows within a cycle)');
      };
      return [i.id, i.host, i.address, i.datacenter, i.weight,
        state(i.state === 'healthy', i.state), i.health || '',
        // Checks run by the instance's host agent: status, and the last
        // output (text, at most 256 bytes) in full on hover.
        i.check_status ? el('span', {class: 'check', title: i.check_output || ''},
          state(i.check_status === 'passing', i.check_status),
          i.check_output ? ' ' + i.check_output.slice(0, 60) : '') : '',
        ages[i.id] === undefined ? 'n/a (' + data.source + ')' : ago(ages[i.id]),
        Object.entries(i.metadata || {}).map(([k, v]) => k + '=' + v).join(', '),
        el('span', {},
          weight,
          el('button', {type: 'button', onclick: () => act('PUT', {weight: Number(weight.value)}, 'weight set')}, 'Set weight'),
          el('button', {type: 'button', onclick: () => act('PUT', {disabled: true}, 'disabled')}, 'Disable'),
          el('button', {type: 'button', onclick: () => act('DELETE', undefined, 'override cleared')}, 'Clear override'))];
    });
    return [el('h1', {}, 'Service ', name),
      el('p', {class: 'muted'}, 'revision ', data.revision, ' · source: ', data.source),
      table(['id', 'host', 'address', 'DC', 'weight', 'state', 'health', 'check', 'last heartbeat', 'metadata',
        'operator override'],
        rows, {id: 'instances'})];
  },

  // The summary (by DC, distributor and revision lag), then the hosts:
  // by default only the ones behind the newest revision, most behind first.
  async hosts() {
    const sum = await api.get('/api/v1/hosts/summary');
    const out = [el('h1', {}, 'Hosts'),
      el('p', {class: 'muted'}, 'Agents seen by their host heartbeat on the mandators of each datacenter; ',
        'a host lags when the distributor revision it is synced to is older than the newest any host reports.')];
    if (sum.unreachable.length) {
      out.push(el('p', {class: 'warn'}, 'Not answering (partial counts): ', sum.unreachable.join(', ')));
    }
    const n = (x) => Number(x).toLocaleString('en-US');
    const counts = (c) => [n(c.hosts), n(c.at_newest), n(c.catching_up), c.behind ? state(false, n(c.behind)) : '0',
      n(c.unknown_revision)];
    out.push(el('div', {class: 'card', id: 'hosts-summary'},
      el('p', {id: 'hosts-headline'}, el('strong', {}, n(sum.hosts)), ' hosts: ',
        el('strong', {class: 'ok'}, n(sum.at_newest)), ' at the newest revision (', sum.newest_revision, '), ',
        n(sum.catching_up), ' catching up, ',
        el('strong', {class: sum.behind ? 'bad' : 'ok'}, n(sum.behind)), ' behind',
        sum.unknown_revision ? [', ', n(sum.unknown_revision), ' not yet synced'] : ''),
      el('p', {class: 'muted'}, 'Behind: a newer revision has been out for more than ', span(sum.grace_ms),
        ' (an agent whose keys did not change learns of a newer revision at its next pull; until then it is catching up).'),
      el('p', {}, 'Lag: ', sum.lag.map((b) => b.lag + ' revision' + (b.lag === '1' ? '' : 's') + ': ' + n(b.hosts)).join(' · ')),
      table(['datacenter', 'hosts', 'at newest', 'catching up', 'behind', 'not yet synced'],
        sum.datacenters.map((d) => [d.name, ...counts(d)]), {id: 'hosts-by-dc'}),
      el('details', {}, el('summary', {}, 'By distributor (', sum.distributors_total, ')'),
        table(['distributor', 'hosts', 'at newest', 'catching up', 'behind', 'not yet synced'],
          sum.distributors.map((d) => [d.address || 'none', ...counts(d)]), {id: 'hosts-by-distributor'}),
        sum.distributors_total > sum.distributors.length
          ? el('p', {class: 'muted'}, 'the ', sum.distributors.length, ' with the most hosts') : '')));
    const q = el('input', {id: 'hosts-q', placeholder: 'host id contains', 'aria-label': 'host id contains'});
    const dc = el('input', {id: 'hosts-dc', placeholder: 'datacenter', size: 8, 'aria-label': 'datacenter'});
    const dist = el('input', {id: 'hosts-distributor', placeholder: 'distributor', size: 16, 'aria-label': 'distributor'});
    const behind = el('input', {type: 'checkbox', id: 'hosts-behind', checked: true, 'aria-label': 'only hosts behind'});
    const list = pagedTable({
      id: 'hosts', path: '/api/v1/hosts',
      params: () => ({q: q.value, dc: dc.value, distributor: dist.value, behind: behind.checked,
        sort: behind.checked ? 'lag' : 'name'}),
      rowsOf: (data) => data.hosts,
      headers: ['host', 'datacenter', 'distributor', 'synced to revision', 'lag', 'newer revision out for',
        'at its revision for', 'last heartbeat', 'agent', 'heard by'],
      row: (h) => [h.host_id, h.datacenter, h.distributor || 'none', h.synced_revision || 'unknown',
        h.lag === null ? 'unknown' : h.lag === 0 ? state(true, '0') :
          h.behind ? state(false, h.lag + ' behind') : el('span', {class: 'warn'}, h.lag + ' catching up'),
        h.behind_ms === null ? '' : span(h.behind_ms), span(h.synced_age_ms), ago(h.last_heartbeat_age_ms),
        h.agent_version || 'unknown', h.mandators.join(', ')],
      empty: 'No host matches' + (sum.behind === 0 ? ': every host is at the newest revision.' : '.'),
    });
    await list.first();
    out.push(el('h2', {}, 'Hosts'), searchForm('hosts-search', [q, dc, dist, behind], list.search), list.box);
    return out;
  },
};
