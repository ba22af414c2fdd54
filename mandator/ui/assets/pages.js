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
    const data = await api.get('/api/v1/services');
    const rows = data.services.map((s) => {
      const per = Object.entries(s.datacenters).map(([dc, states]) =>
        dc + ': ' + Object.entries(states).map(([k, n]) => n + ' ' + k).join(', '));
      return [link('#/service/' + api.enc(s.name), s.name, {class: 'service-link'}),
        s.instances, per.join(' · '), s.revision];
    });
    return [el('h1', {}, 'Services'),
      el('p', {class: 'muted'}, 'source: ', data.source),
      rows.length ? table(['service', 'instances', 'per datacenter and state', 'revision'], rows, {id: 'services'})
        : el('p', {}, 'No service has registered yet.')];
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

  async hosts() {
    const data = await api.get('/api/v1/hosts');
    const out = [el('h1', {}, 'Hosts'),
      el('p', {class: 'muted'}, 'Agents seen by their host heartbeat on the mandators of each datacenter.')];
    if (data.unreachable.length) {
      out.push(el('p', {class: 'warn'}, 'Not answering (partial list): ', data.unreachable.join(', ')));
    }
    out.push(data.hosts.length === 0 ? el('p', {}, 'No agent has sent a heartbeat yet.') :
      table(['host', 'datacenter', 'distributor', 'revision', 'last heartbeat', 'heard by'],
        data.hosts.map((h) => [h.host_id, h.datacenter, h.distributor || 'none', h.revision,
          ago(h.last_heartbeat_age_ms), h.mandators.join(', ')]), {id: 'hosts'}));
    return out;
  },
};
