'use strict';
// The Overview's version marker: a DC whose daemons report different
// versions is marked "mixed", one whose daemons agree is not. The cluster
// of ui_browser_test runs one build only, so this test gives the UI's own
// scripts (mandator/ui/assets: dom.js, api.js, pages.js, unchanged) an
// /api/v1/cluster answer of the shape ClusterView serves
// (mandator/ui/cluster_view.h) with statuses of two versions, in headless
// Chromium. Every request of the page is answered by the test (page.route
// on a name that is never resolved): no network, no cluster.
const fs = require('fs');
const path = require('path');
const {chromium} = require('playwright-core');

const assets = process.env.KESS_UI_ASSETS;
const ORIGIN = 'http://kess-ui.test';

const failures = [];
function check(ok, what) {
  console.log((ok ? 'ok: ' : 'FAIL: ') + what);
  if (!ok) failures.push(what);
}

function status(id, version, commit, extra) {
  return Object.assign({member_id: id, datacenter: 'dc', version, commit, revision: 42}, extra);
}

// dc1: the mandators run 0.9.0, its distributor already 0.10.0 (an upgrade
// under way). dc2: everything 0.9.0 of the same commit; one mandator does
// not answer (no status: it counts for no version). dc3: the same release
// from two commits.
const cluster = {
  datacenters: [
    {
      name: 'dc1', is_main: true, self: true,
      zookeeper: {ensemble: '127.0.0.1:2181', reachable: true},
      mandators: [
        {id: 'm1', http_address: '127.0.0.1:7100',
          status: status('m1', '0.9.0', 'aaaaaaaa11112222', {is_leader: true, zookeeper: 'connected'})},
        {id: 'm2', http_address: '127.0.0.1:7101',
          status: status('m2', '0.9.0', 'aaaaaaaa11112222', {is_leader: false, zookeeper: 'connected'})},
      ],
      distributors: [
        {id: 'd1', http_address: '127.0.0.1:7201',
          status: status('d1', '0.10.0', 'bbbbbbbb33334444', {connected_agents: 3, stale: false})},
      ],
    },
    {
      name: 'dc2', is_main: false, self: false,
      zookeeper: {ensemble: '127.0.0.1:2182', reachable: true},
      mandators: [
        {id: 'm3', http_address: '127.0.0.1:7102',
          status: status('m3', '0.9.0', 'aaaaaaaa11112222',
            {is_leader: true, zookeeper: 'connected', replication_lag_revisions: 0, replication_lag_seconds: 0})},
        {id: 'm4', http_address: '127.0.0.1:7103', status: null, error: 'connection refused'},
      ],
      distributors: [
        {id: 'd2', http_address: '127.0.0.1:7202',
          status: status('d2', '0.9.0', 'aaaaaaaa11112222', {connected_agents: 1, stale: false})},
      ],
    },
    {
      name: 'dc3', is_main: false, self: false,
      zookeeper: {ensemble: '127.0.0.1:2183', reachable: true},
      mandators: [
        {id: 'm5', http_address: '127.0.0.1:7104',
          status: status('m5', '0.9.0', 'aaaaaaaa11112222', {is_leader: true, zookeeper: 'connected'})},
        {id: 'm6', http_address: '127.0.0.1:7105',
          status: status('m6', '0.9.0', 'cccccccc55556666', {is_leader: false, zookeeper: 'connected'})},
      ],
      distributors: [],
    },
  ],
};

const page_html = `<!doctype html><html><head><meta charset="utf-8">
<script src="/ui/dom.js"></script><script src="/ui/api.js"></script>
<script src="/ui/pages.js"></script></head><body><main id="out"></main></body></html>`;

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const asked = [];
    // Everything the page asks for, answered here; anything else is refused.
    await page.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      asked.push(url.pathname);
      if (url.origin !== ORIGIN) return route.abort();
      if (url.pathname === '/') {
        return route.fulfill({contentType: 'text/html', body: page_html});
      }
      const m = url.pathname.match(/^\/ui\/(dom|api|pages)\.js$/);
      if (m) {
        return route.fulfill({contentType: 'text/javascript',
          body: fs.readFileSync(path.join(assets, m[1] + '.js'), 'utf8')});
      }
      if (url.pathname === '/api/v1/cluster') {
        return route.fulfill({contentType: 'application/json', body: JSON.stringify(cluster)});
      }
      return route.fulfill({status: 404, body: 'not here'});
    });
    await page.goto(ORIGIN + '/');
    // The page's own code renders the Overview, as app.js does.
    await page.evaluate(async () => {
      document.getElementById('out').replaceChildren(...await pages.overview());
    });
    check(errors.length === 0, 'no script error: ' + errors.join('; '));
    check(asked.includes('/api/v1/cluster'), 'the Overview asked /api/v1/cluster');

    const dcs = await page.evaluate(() => [...document.querySelectorAll('.card.dc')].map((card) => {
      const versions = card.querySelector('.versions');
      const line = versions.parentElement;
      return {
        dc: card.getAttribute('data-dc'),
        versions: versions.textContent,
        mixed: [...line.querySelectorAll('span.bad')].map((s) => s.textContent),
      };
    }));
    console.log(JSON.stringify(dcs));
    const by = Object.fromEntries(dcs.map((d) => [d.dc, d]));
    check(dcs.length === 3, '3 DC cards');
    check(by.dc1 && by.dc1.versions === '0.10.0 (bbbbbbbb), 0.9.0 (aaaaaaaa)',
      'dc1 lists both versions: ' + (by.dc1 && by.dc1.versions));
    check(by.dc1 && by.dc1.mixed.length === 1 && by.dc1.mixed[0] === 'mixed', 'dc1 is marked mixed');
    check(by.dc2 && by.dc2.versions === '0.9.0 (aaaaaaaa)',
      'dc2 lists one version (the silent mandator counts for none): ' + (by.dc2 && by.dc2.versions));
    check(by.dc2 && by.dc2.mixed.length === 0, 'dc2 is not marked mixed');
    check(by.dc3 && by.dc3.versions === '0.9.0 (aaaaaaaa), 0.9.0 (cccccccc)',
      'dc3 lists the two commits of one release: ' + (by.dc3 && by.dc3.versions));
    check(by.dc3 && by.dc3.mixed.length === 1 && by.dc3.mixed[0] === 'mixed', 'dc3 is marked mixed');

    const dir = process.env.SCREENSHOT_DIR;
    if (dir) await page.screenshot({path: path.join(dir, 'overview-mixed-versions.png'), fullPage: true});
  } finally {
    await browser.close();
  }
  console.log(failures.length + ' failure(s)');
  process.exit(failures.length === 0 ? 0 : 1);
}

const timer = setTimeout(() => { console.log('FAIL: timed out after 60 s'); process.exit(1); }, 60000);
timer.unref();
main().catch((e) => { console.log('FAIL: ' + (e && e.stack || e)); process.exit(1); });
