'use strict';
// The admin UI in real headless Chromium against a real 2-DC cluster:
// log in, see both DCs (each daemon's version) and a service's instances in both, set an operator
// override, create and edit a config (CSRF token in place; a write without
// it is refused), see the value arrive in the agents' cache files of both
// DCs, see HTML in a value rendered as text, diff two versions, roll back
// and see the old value arrive again, see the hosts. Screenshots of every
// page go to $SCREENSHOT_DIR.
const {spawn} = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const {chromium} = require('playwright-core');

const shots = process.env.SCREENSHOT_DIR;
const deadline = (s) => Date.now() + s * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The base64 SHA-256 of a PEM certificate's public key (SPKI): Chromium's
// --ignore-certificate-errors-spki-list then accepts exactly that key, the
// cluster's mandator certificate (signed by the test CA, which Chromium
// does not know), and nothing else.
function spkiSha256(pemFile) {
  const cert = new crypto.X509Certificate(fs.readFileSync(pemFile));
  const spki = cert.publicKey.export({type: 'spki', format: 'der'});
  return crypto.createHash('sha256').update(spki).digest('base64');
}
let step = 'start';
function log(...a) { console.log(new Date().toISOString(), ...a); }
function check(cond, what) {
  if (!cond) throw new Error('check failed (' + step + '): ' + what);
  log('ok:', what);
}

// The cluster (tests/cluster:kess_cluster, the launcher the demo runs too):
// per DC 1 ZooKeeper, 2 mandators with the admin secret (dc1's with
// --other_dcs), 1 distributor and 1 agent (host h1) subscribed to ui/greeting
// and ui/html, and one instance of service checkout (the sample provider,
// checkout-<dc>) on h1, plus dc1's Python provider (pyprovider-dc1-1,
// registered through the agent with an HTTP check). First line = its description; then "cached ns key".
const clusterFlags = [
  '--dcs=2', '--zk_servers=1', '--mandators=2', '--distributors=1', '--agents=1',
  '--host_id_format=h{i}', '--subscribe=ui/greeting,ui/html',
  '--service=checkout', '--providers=1', '--instance_id_format=checkout-{dc}',
  '--python_providers=1',
  '--provider_flags=--heartbeat_interval_ms=1000', '--agent_test_intervals',
  '--mandator_flags=--route_cycle_ms=500 --route_window_ms=300 ' +
    '--route_warmup_ms=3000 --heartbeat_interval_ms=1000',
];
function startCluster() {
  const child = spawn(process.env.KESS_CLUSTER, clusterFlags, {stdio: ['pipe', 'pipe', 'inherit']});
  const lines = readline.createInterface({input: child.stdout});
  const waiting = [];
  lines.on('line', (l) => { const w = waiting.shift(); if (w) w(l); });
  const next = () => new Promise((resolve) => waiting.push(resolve));
  return {
    child,
    first: next(),
    async cached(ns, key) {
      const answer = next();
      child.stdin.write('cached ' + ns + ' ' + key + '\n');
      return JSON.parse(await answer);
    },
    quit() { child.stdin.end('quit\n'); },
  };
}

async function waitCached(cluster, ns, key, value, minRevision) {
  const end = deadline(60);
  let last;
  while (Date.now() < end) {
    last = await cluster.cached(ns, key);
    const all = Object.values(last);
    if (all.length > 0 && all.every((e) => e.value === value && e.revision >= minRevision)) return last;
    await sleep(250);
  }
  throw new Error('agents did not cache ' + ns + '/' + key + '=' + value + ': ' + JSON.stringify(last));
}

// Re-renders the page until `fn` (run in the browser) is true.
async function until(page, fn, what, seconds = 60) {
  const end = deadline(seconds);
  for (;;) {
    if (await page.evaluate(fn).catch(() => false)) { log('ok:', what); return; }
    if (Date.now() > end) throw new Error('timed out (' + step + '): ' + what);
    await page.evaluate(() => app.route());
    await sleep(500);
  }
}

async function shot(page, name) {
  await page.screenshot({path: path.join(shots, name + '.png'), fullPage: true});
  log('screenshot', name + '.png');
}

async function main() {
  const cluster = startCluster();
  let browser;
  try {
    step = 'cluster';
    const info = JSON.parse(await cluster.first);
    if (info.error) throw new Error('cluster: ' + info.error);
    info.secret = fs.readFileSync(info.admin.password_file, 'utf8').trim();
    log('cluster up; UI at', info.ui, '; logs in', info.logs);
    check(info.ui.startsWith('https://') && info.ca, 'the UI is served over HTTPS');
    const pin = spkiSha256(path.join(path.dirname(info.ca), 'mandator.pem'));

    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--ignore-certificate-errors-spki-list=' + pin],
    });
    const page = await browser.newPage({viewport: {width: 1400, height: 900}});
    const dialogs = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
    page.on('pageerror', (e) => log('page error:', e.message));

    step = 'login';
    await page.goto(info.ui);
    await page.waitForSelector('#login-form', {state: 'visible'});
    await shot(page, '0-login');
    await page.fill('#login-password', 'wrong-password-123');
    await page.click('#login-submit');
    await page.waitForSelector('#error:not([hidden])');
    check((await page.textContent('#error')).includes('UNAUTHENTICATED'), 'a wrong password is refused');
    await page.fill('#login-password', info.secret);
    await page.click('#login-submit');
    await page.waitForSelector('#nav:not([hidden])');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'kess_session');
    check(session && session.httpOnly && session.sameSite === 'Strict', 'session cookie is HttpOnly, SameSite=Strict');
    check(session && session.secure, 'session cookie is Secure (HTTPS)');
    check(await page.evaluate(() => document.cookie === ''), 'scripts cannot read the session cookie');

    step = 'overview';
    await page.goto(info.ui + '#/overview');
    await until(page, () => ['dc1', 'dc2'].every((dc) => {
      const card = document.querySelector('.dc[data-dc="' + dc + '"]');
      return card && !card.querySelector('.leader').textContent.includes('none');
    }) && document.querySelectorAll('.dc').length === 2, 'Overview shows both DCs with their leaders');
    await until(page, () => [...document.querySelectorAll('.dc table')].length === 4 &&
      document.body.textContent.includes('fresh'), 'Overview shows the distributors');
    // Each mandator's and distributor's version (the test's build: VERSION,
    // commit "dev"), one version per DC.
    const version = fs.readFileSync(path.join(process.env.TEST_SRCDIR, 'kess', 'VERSION'), 'utf8').trim();
    const want = version + ' (dev)';
    await page.evaluate((w) => { window.wantVersion = w; }, want);
    await until(page, () => {
      const cards = [...document.querySelectorAll('.dc')];
      return cards.length === 2 && cards.every((card) => {
        const tables = card.querySelectorAll('table');
        const cells = [...tables].flatMap((t) => {
          const col = [...t.querySelectorAll('th')].findIndex((th) => th.textContent === 'version');
          return [...t.querySelectorAll('tbody tr')].map((tr) => col < 0 ? '' : tr.children[col].textContent);
        });
        return cells.length >= 3 && cells.every((c) => c === window.wantVersion) &&
          card.querySelector('.versions').textContent === window.wantVersion;
      });
    }, 'Overview shows every mandator\'s and distributor\'s version (' + want + ')');
    await shot(page, '1-overview');

    // A slow Overview that finishes after the operator moved on must not
    // replace the newer page (seen on a loaded machine: the Services tab
    // active, the Overview drawn).
    step = 'late render';
    await page.evaluate(() => {
      window.realOverview = pages.overview;
      pages.overview = async () => {
        await new Promise((done) => setTimeout(done, 1500));
        return window.realOverview();
      };
    });
    await page.evaluate(() => { location.hash = '#/configs'; });  // leave the Overview
    await until(page, () => document.querySelector('#page').getAttribute('data-page') === 'configs',
      'the Configs page is drawn');
    await page.evaluate(() => { location.hash = '#/overview'; });  // a slow render starts
    await sleep(200);
    await page.evaluate(() => { location.hash = '#/hosts'; });     // the operator moves on
    await until(page, () => document.querySelector('#page').getAttribute('data-page') === 'hosts',
      'the Hosts page is drawn');
    await new Promise((done) => setTimeout(done, 2500));  // the slow Overview answers
    // Checked once, without until(): its retries draw the page again.
    const drawn = await page.evaluate(() => document.querySelector('#page').getAttribute('data-page') + ' / ' +
      document.querySelector('#page h1').textContent);
    if (!drawn.startsWith('hosts /')) throw new Error('a late Overview replaced the newer page: ' + drawn);
    log('ok:', 'a late Overview does not replace the newer page');
    await page.evaluate(() => { pages.overview = window.realOverview; });

    step = 'services';
    await page.goto(info.ui + '#/services');
    await until(page, () => {
      const t = document.querySelector('#services');
      return t && t.textContent.includes('checkout') && t.textContent.includes('dc1') && t.textContent.includes('dc2');
    }, 'Services lists checkout with instances in dc1 and dc2');
    // Search: by name, and by the state of the instances.
    await page.fill('#services-q', 'heck');
    await page.click('#services-search button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#services') &&
      [...document.querySelectorAll('#services a.service-link')].every((a) => a.textContent.includes('heck')) &&
      document.querySelector('#services').textContent.includes('checkout'));
    check(true, 'a name search lists only the matching services');
    await page.fill('#services-q', 'no-such-service');
    await page.click('#services-search button[type=submit]');
    await page.waitForSelector('#services-empty');
    check((await page.textContent('#services-count')).startsWith('0 of 0'), 'a search without match says so');
    await page.fill('#services-q', '');
    await page.selectOption('#services-state', 'disabled');
    await page.waitForSelector('#services-empty');
    check(true, 'no service has a disabled instance (state filter)');
    await page.selectOption('#services-state', '');
    await page.waitForSelector('#services a.service-link');
    await shot(page, '2-services');
    await page.click('a.service-link');
    await until(page, () => {
      const t = document.querySelector('#instances');
      return t && t.textContent.includes('checkout-dc1') && t.textContent.includes('checkout-dc2');
    }, 'the service page shows both instances');
    // The Python provider registered through its host agent with an HTTP
    // check: the check's status and output are on its row.
    await until(page, () => {
      const r = [...document.querySelectorAll('#instances tr')].find((tr) => tr.textContent.includes('pyprovider-dc1-1'));
      const c = r && r.querySelector('.check');
      return c && c.textContent.includes('passing') && c.getAttribute('title').length > 0;
    }, 'the service page shows the check status and output of an instance checked by its agent');
    // An operator override: weight 7 for checkout-dc1, through the UI.
    const row = page.locator('#instances tr', {hasText: 'checkout-dc1'});
    await row.locator('input[type=number]').fill('7');
    await row.locator('button', {hasText: 'Set weight'}).click();
    await page.waitForSelector('#notice:not([hidden])');
    await until(page, () => {
      const r = [...document.querySelectorAll('#instances tr')].find((tr) => tr.textContent.includes('checkout-dc1'));
      return r && r.children[4].textContent === '7';
    }, 'the override (weight 7) is in the route table');
    await shot(page, '3-service');

    step = 'configs';
    await page.goto(info.ui + '#/configs');
    await page.waitForSelector('#new-create');
    await page.fill('#new-ns', 'ui');
    await page.fill('#new-key', 'greeting');
    await page.fill('#new-value', 'hello v1');
    await page.click('#new-create');
    await page.waitForSelector('#config-value');
    await until(page, () => document.querySelector('#config-value').textContent === 'hello v1', 'created ui/greeting');
    const rev1 = Number(await page.textContent('#config-revision'));

    // CSRF: the same browser session without the token is refused.
    const csrf = await page.evaluate(async () => {
      const noToken = await fetch('/api/v1/configs/ui/greeting', {method: 'PUT',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({value: 'forged'})});
      const withToken = await fetch('/api/v1/configs/ui/greeting', {method: 'PUT',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': 'guessed-token'},
        body: JSON.stringify({value: 'forged'})});
      return [noToken.status, withToken.status];
    });
    check(csrf[0] === 403 && csrf[1] === 403, 'writes without the right CSRF token get 403 (' + csrf + ')');

    await page.fill('#edit-value', 'hello v2');
    await page.click('#save');
    await page.waitForSelector('#notice:not([hidden])');
    await until(page, () => document.querySelector('#config-value').textContent === 'hello v2', 'saved hello v2');
    const rev2 = Number(await page.textContent('#config-revision'));
    check(rev2 > rev1, 'the edit has a new revision');
    const cached2 = await waitCached(cluster, 'ui', 'greeting', 'hello v2', rev2);
    check(true, 'hello v2 reached the agents of both DCs: ' + JSON.stringify(cached2));

    // Compare-and-set: a stale editor (an old revision) loses.
    const stale = await page.evaluate(async (r) => (await fetch('/api/v1/configs/ui/greeting', {method: 'PUT',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': api.csrf},
      body: JSON.stringify({value: 'stale', expected_revision: r})})).status, rev1);
    check(stale === 409, 'a write with an old expected_revision gets 409');

    step = 'history';
    check(await page.locator('#history tbody tr').count() === 2, 'history shows two versions');
    const diff = await page.textContent('#diff');
    check(diff.includes('- hello v1') && diff.includes('+ hello v2'), 'the diff shows the change');
    await shot(page, '4-config-history-diff');

    step = 'rollback';
    await page.click('button.rollback[data-revision="' + rev1 + '"]');
    await page.waitForSelector('#notice:not([hidden])');
    await until(page, () => document.querySelector('#config-value').textContent === 'hello v1', 'rolled back to hello v1');
    const rev3 = Number(await page.textContent('#config-revision'));
    check(rev3 > rev2, 'the rollback is a new revision');
    await waitCached(cluster, 'ui', 'greeting', 'hello v1', rev3);
    check(true, 'the rolled-back value reached the agents of both DCs');

    step = 'gray';
    // Gray release to host h1 (the agent of each DC), then promote; a second
    // one to a host that does not exist, then abort.
    await page.waitForSelector('#gray-start');
    await page.fill('#gray-hosts', 'h1');
    await page.fill('#gray-new-value', 'hello gray');
    await page.click('#gray-start');
    await page.waitForSelector('#notice:not([hidden])');
    await until(page, () => document.querySelector('#gray-status') &&
      document.querySelector('#gray-status').textContent.startsWith('active'), 'the gray release is shown as active');
    check(await page.textContent('#gray-targets') === 'hosts h1', 'it shows its hosts');
    check(await page.textContent('#gray-value') === 'hello gray', 'it shows the gray value');
    check(await page.textContent('#config-value') === 'hello v1', 'the config itself is unchanged');
    check(await page.isDisabled('#save'), 'Save is disabled while the gray release is active');
    check(await page.$$eval('button.rollback', (bs) => bs.length > 0 && bs.every((b) => b.disabled)),
      'rollbacks are disabled while the gray release is active');
    const revGray = Number(await page.textContent('#gray-revision'));
    check(revGray > rev3, 'the gray release has a new revision');
    await waitCached(cluster, 'ui', 'greeting', 'hello gray', revGray);
    check(true, 'the gray value reached the gray hosts (h1 of both DCs)');
    await shot(page, '4b-config-gray');
    await page.click('#gray-promote');
    await page.waitForSelector('#notice:not([hidden])');
    await until(page, () => document.querySelector('#config-value').textContent === 'hello gray' &&
      document.querySelector('#gray-start') !== null, 'promoted: the config is the gray value, no gray release left');
    const rev4 = Number(await page.textContent('#config-revision'));
    check(rev4 > revGray, 'the promote is a newer revision');
    check(!(await page.isDisabled('#save')), 'Save is enabled again once promoted');
    await waitCached(cluster, 'ui', 'greeting', 'hello gray', rev4);
    check(true, 'the promoted value reached the agents of both DCs');
    await page.fill('#gray-hosts', 'nobody');
    await page.fill('#gray-percentage', '');
    await page.fill('#gray-new-value', 'never');
    await page.click('#gray-start');
    await page.waitForSelector('#gray-abort');
    await page.click('#gray-abort');
    await until(page, () => document.querySelector('#gray-start') !== null &&
      Number(document.querySelector('#config-revision').textContent) > 0, 'aborted: no gray release left');
    const rev5 = Number(await page.textContent('#config-revision'));
    check(rev5 > rev4, 'the abort re-commits the value at a newer revision');
    check(await page.textContent('#config-value') === 'hello gray', 'the abort keeps the config value');
    await waitCached(cluster, 'ui', 'greeting', 'hello gray', rev5);

    step = 'escaping';
    const evil = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">&amp;';
    await page.goto(info.ui + '#/configs');
    await page.waitForSelector('#new-create');
    await page.fill('#new-ns', 'ui');
    await page.fill('#new-key', 'html');
    await page.fill('#new-value', evil);
    await page.click('#new-create');
    await until(page, () => document.querySelector('#config-value') &&
      document.querySelector('#config-value').textContent.startsWith('<script>'), 'the HTML value is shown');
    check(await page.textContent('#config-value') === evil, 'the value is shown as text, exactly');
    check(await page.evaluate(() => window.__xss === undefined), 'no injected script or handler ran');
    check(await page.locator('#page img, #page script').count() === 0, 'no element was created from the value');
    check(dialogs.length === 0, 'no dialog opened');
    await waitCached(cluster, 'ui', 'html', evil, 1);
    await page.goto(info.ui + '#/configs/ui');
    await page.waitForSelector('a.config-link');
    await shot(page, '5-configs');

    step = 'config paging';
    // 12 keys in one namespace, written through the API with the session's
    // CSRF token; listed 10 per page.
    await page.evaluate(async () => {
      for (let i = 1; i <= 12; ++i) {
        await api.call('PUT', '/api/v1/configs/uipage/k' + String(i).padStart(2, '0'), {value: 'v' + i});
      }
    });
    await page.goto(info.ui + '#/configs/uipage');
    // The previous Configs page has a #keys-size of its own until the new
    // one is drawn: wait for the keys of uipage, else the selection below
    // may land on the old page's control and be drawn over.
    await page.waitForFunction(() => document.querySelector('#keys-of') &&
      document.querySelector('#keys-of').textContent === 'Keys of uipage');
    await page.waitForSelector('#keys-size');
    await page.selectOption('#keys-size', '10');
    await page.waitForFunction(() => document.querySelector('#keys-count') &&
      document.querySelector('#keys-count').textContent === '1–10 of 12');
    check(await page.locator('#keys a.config-link').count() === 10, 'the first page shows 10 of 12 keys');
    check(await page.isDisabled('#keys-prev'), 'no previous page on the first');
    await page.click('#keys-next');
    await page.waitForFunction(() => document.querySelector('#keys-count').textContent === '11–12 of 12');
    const second = await page.locator('#keys a.config-link').allTextContents();
    check(second.join(',') === 'k11,k12', 'the second page shows the last 2 keys: ' + second.join(','));
    check(await page.isDisabled('#keys-next'), 'no next page after the last');
    await page.click('#keys-prev');
    await page.waitForFunction(() => document.querySelector('#keys-count').textContent === '1–10 of 12');
    await page.fill('#keys-prefix', 'k1');
    await page.click('#keys-search button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#keys-count').textContent === '1–3 of 3');
    check((await page.locator('#keys a.config-link').allTextContents()).join(',') === 'k10,k11,k12',
      'a key prefix search lists k10, k11, k12');
    await page.fill('#namespaces-q', 'uip');
    await page.click('#namespaces-search button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#namespaces-count').textContent === '1–1 of 1');
    check(await page.textContent('#namespaces a.namespace-link') === 'uipage', 'a namespace prefix search');
    await shot(page, '5b-config-paging');
    await page.goto(info.ui + '#/config/ui/html');
    await page.waitForSelector('#config-value');
    await shot(page, '6-config-html-as-text');

    step = 'hosts';
    await page.goto(info.ui + '#/hosts');
    // The summary first: h1 of each DC, none behind (at the newest revision,
    // or catching up for less than the grace); by default only the hosts
    // behind are listed: none.
    await until(page, () => {
      const t = document.querySelector('#hosts-by-dc');
      const head = document.querySelector('#hosts-headline');
      return t && t.textContent.includes('dc1') && t.textContent.includes('dc2') &&
        head.textContent.startsWith('2 hosts: ') && head.textContent.endsWith(', 0 behind') &&
        document.querySelector('#hosts-behind').checked && document.querySelector('#hosts-empty');
    }, 'Hosts opens on the summary (2 hosts, 0 behind) and lists no laggard');
    await shot(page, '7-hosts');
    await page.uncheck('#hosts-behind');
    await page.waitForFunction(() => {
      const t = document.querySelector('#hosts');
      return t && t.textContent.includes('dc1') && t.textContent.includes('dc2');
    });
    check(true, 'all hosts: the agents of both DCs');
    await page.fill('#hosts-q', 'h1');
    await page.fill('#hosts-dc', 'dc2');
    await page.click('#hosts-search button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#hosts-count') &&
      document.querySelector('#hosts-count').textContent === '1–1 of 1' &&
      document.querySelector('#hosts tbody tr').children[1].textContent === 'dc2');
    check(true, 'a host search by id and datacenter');
    await shot(page, '7b-hosts-search');

    step = 'access';
    await page.goto(info.ui + '#/access');
    await page.waitForSelector('#token-form');
    await page.fill('#token-name', 'ui-deploy');
    await page.selectOption('#token-role', 'publisher');
    await page.fill('#token-namespaces', 'ui, team-*');
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#new-token');
    const bearer = await page.textContent('#new-token');
    check(/^kt_[0-9a-f]{16}_[0-9a-f]{64}$/.test(bearer), 'a new token is shown once, in full');
    await page.waitForFunction(() => document.querySelector('#tokens') &&
      document.querySelector('#tokens').textContent.includes('publisher of ui, team-*'));
    check(!(await page.textContent('#tokens')).includes(bearer.slice(20)), 'the token list shows no secret');
    // The token works as a publisher of "ui" only.
    const asToken = await page.evaluate(async (t) => {
      const put = (ns) => fetch('/api/v1/configs/' + ns + '/by-token', {method: 'PUT',
        headers: {'Authorization': 'Bearer ' + t, 'Content-Type': 'application/json'},
        body: JSON.stringify({value: 'x'})}).then((r) => r.status);
      return [await put('ui'), await put('billing')];
    }, bearer);
    check(asToken[0] === 200 && asToken[1] === 403, 'the token writes its namespace only (200, 403)');
    await page.fill('#user-name', 'ui-viewer');
    await page.selectOption('#user-role', 'viewer');
    await page.fill('#user-password', 'ui-viewer-Password-1');
    await page.click('#user-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#users') &&
      document.querySelector('#users').textContent.includes('ui-viewer'));
    check(true, 'a user is created from the Access page');
    await shot(page, '8-access');

    step = 'audit';
    await page.goto(info.ui + '#/audit');
    await page.waitForSelector('#audit');
    await until(page, () => {
      const t = document.querySelector('#audit');
      return t && t.textContent.includes('token.create') && t.textContent.includes('user.create') &&
        t.textContent.includes('token:ui-deploy');
    }, 'the audit log lists the token and user changes and the token\'s writes');
    await page.fill('#audit-who', 'token:ui-deploy');
    await page.check('#audit-refused');
    await page.waitForFunction(() => {
      const rows = document.querySelectorAll('#audit tbody tr');
      return rows.length === 1 && rows[0].textContent.includes('403') &&
        rows[0].textContent.includes('/api/v1/configs/billing/by-token');
    });
    check(true, 'the audit filters: who and refused only');
    await shot(page, '9-audit');

    step = 'logout';
    await page.click('#logout');
    await page.waitForSelector('#login-form', {state: 'visible'});
    const after = await page.evaluate(async () => (await fetch('/api/v1/configs')).status);
    check(after === 401, 'after logout the API answers 401');
    log('PASS');
  } finally {
    if (browser) await browser.close().catch(() => {});
    cluster.quit();
    await new Promise((r) => { cluster.child.on('exit', r); setTimeout(r, 30000); });
  }
}

main().then(() => process.exit(0), (e) => { console.error('FAIL:', e.stack || e); process.exit(1); });
