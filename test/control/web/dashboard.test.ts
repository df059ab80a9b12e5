// The dashboard in a real browser (headless Chromium, ./browser.ts) against a real daemon: real app
// processes behind real sockets on 127.0.0.1. Logging in, the overview, a restart clicked in the page
// under HTTP load, a restart from gracevisorctl showing up in an open page, and what is refused: no
// session, a wrong token, a POST without the CSRF token, a GET that would change something.
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { KeepAliveLoad } from '../../helpers/load.js';
import { ensureBuild, freePort } from '../../cli/harness.js';
import { launchBrowser, skipReason, startWebDaemon, type WebDaemon } from './browser.js';

const skip = skipReason();
if (skip) t.skip(`the dashboard's browser tests: ${skip}`);
else {
  t.before(() => ensureBuild());
  // Generous: the machine may be loaded by other suites; a hang still fails, well before tap's 900 s.
  t.beforeEach((t) => t.setTimeout(240_000));
  /** How long the page may take to show what the daemon did (a loaded machine is slow, not wrong). */
  const SHOWN_MS = 60_000;

  let browser: Browser;
  let w: WebDaemon;
  let shopPort: number;

  t.before(async () => {
    browser = await launchBrowser(t);
    shopPort = await freePort();
    const apiPort = await freePort();
    w = await startWebDaemon(t, [
      { name: 'shop', port: shopPort, drainTimeout: '10s' },
      { name: 'api', port: apiPort },
    ]);
  });

  /** A fresh browser context (no cookies) with one page, closed when `t` ends. */
  async function freshPage(t: Tap.Test): Promise<Page> {
    const context = await browser.newContext();
    t.teardown(() => context.close().catch(() => undefined));
    const page = await context.newPage();
    page.setDefaultTimeout(SHOWN_MS);
    return page;
  }

  /** A page logged in with the token, on the overview. */
  async function loggedIn(t: Tap.Test): Promise<Page> {
    const page = await freshPage(t);
    await page.goto(`${w.base}/?token=${encodeURIComponent(w.token)}`);
    await page.locator('[data-link="live"]').waitFor();
    return page;
  }

  /** A logged-in page on `app`'s page, which shows the pid serving now; returns the page and that pid. */
  async function onAppPage(t: Tap.Test, app: string): Promise<{ page: Page; before: number }> {
    const page = await loggedIn(t);
    await page.goto(`${w.base}/#/app/${app}`);
    await page.locator(`section.app-page[data-app="${app}"]`).waitFor();
    const [before] = await w.d.servingPids(app);
    t.equal(await shownServingPid(page, app), before, 'the page shows the serving pid');
    return { page, before: before! };
  }

  /** The pid the page shows for the app's instance that gets new work. */
  async function shownServingPid(page: Page, app: string): Promise<number> {
    const row = page.locator(`[data-app="${app}"] tr[data-instance]`, { has: page.locator('.istate-serving') }).first();
    return Number(await row.locator('[data-field="pid"]').textContent());
  }

  t.test('without a session every page and API call answers 401 with the login form, and a wrong token is refused', async (t) => {
    const page = await freshPage(t);
    const home = await page.goto(`${w.base}/`);
    t.equal(home?.status(), 401, 'the page: 401');
    t.ok(await page.locator('form input[name="token"]').isVisible(), 'with a login form that takes the token');
    for (const path of ['/app.js', '/api/session', '/api/live', '/api/apps/shop', '/api/plugins']) {
      const r = await page.request.get(`${w.base}${path}`);
      t.equal(r.status(), 401, `GET ${path}: 401`);
    }
    const post = await page.request.post(`${w.base}/api/apps/shop/stop`);
    t.equal(post.status(), 401, 'POST without a session: 401');

    const wrong = await page.goto(`${w.base}/?token=not-the-token`);
    t.equal(wrong?.status(), 401, 'a wrong token in the URL: 401');
    t.same(await page.context().cookies(), [], 'and no cookie');
    await page.fill('form input[name="token"]', 'still-not-the-token');
    const [formAnswer] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/login')), page.click('form button[type="submit"]')]);
    t.equal(formAnswer.status(), 401, 'a wrong token in the form: 401');
    t.same(await page.context().cookies(), [], 'still no cookie');
    t.match((await w.d.status()).map((a) => a.state), ['running', 'running'], 'nothing changed');
  });

  t.test('the token in the URL logs in with an HttpOnly SameSite=Strict cookie, drops the token from the URL, and the overview lists the apps', async (t) => {
    const page = await loggedIn(t);
    t.equal(page.url(), `${w.base}/`, 'redirected to / without the token');
    const [cookie, ...more] = await page.context().cookies();
    t.same(more, [], 'one cookie');
    t.match(cookie, { httpOnly: true, sameSite: 'Strict', path: '/' }, 'HttpOnly, SameSite=Strict');
    const status = await w.d.status();
    for (const app of status) {
      const card = page.locator(`article[data-app="${app.name}"]`);
      await card.waitFor();
      t.equal(await card.locator('.badge').getAttribute('data-state'), 'running', `${app.name} shows as running`);
      t.match(await card.textContent(), app.address, `${app.name} shows its address`);
      const pid = app.instances.find((i: { state: string }) => i.state === 'serving').pid;
      t.equal(await shownServingPid(page, app.name), pid, `${app.name} shows its serving pid, ${pid}`);
    }
  });

  t.test('the login form takes the token too', async (t) => {
    const page = await freshPage(t);
    await page.goto(`${w.base}/`);
    await page.fill('form input[name="token"]', w.token);
    await page.click('form button[type="submit"]');
    await page.locator('article[data-app="shop"]').waitFor();
    t.equal(page.url(), `${w.base}/`, 'on the overview');
  });

  t.test('a restart clicked in the page changes the pid shown, and the app keeps answering under load with no failed request', async (t) => {
    const { page, before } = await onAppPage(t, 'shop');

    // Bounded in count and in time; 4 keep-alive clients through the app's public address.
    const load = new KeepAliveLoad({ port: shopPort, clients: 4, maxRequestsPerClient: 20_000, maxMs: 180_000 });
    load.start();
    t.teardown(() => load.stop());
    await t.resolves(waitUntil(() => load.count >= 20), 'the load is answered before the restart');

    await page.click('button[data-action="restart"]');
    await page.locator('[role="alertdialog"]').waitFor();
    t.same(await w.d.servingPids('shop'), [before], 'asking for confirmation changes nothing');
    await page.click('button[data-confirm="restart"]');
    await page.locator('[data-progress="restart"] [data-outcome="ok"]').waitFor();
    const progress = await page.locator('[data-progress="restart"]').textContent();
    t.match(progress, /ready/, 'the progress streamed in shows the steps');

    const [after] = await w.d.servingPids('shop');
    t.not(after, before, 'a new instance serves');
    await page.waitForFunction(([pid]) => [...document.querySelectorAll('[data-app="shop"] [data-field="pid"]')].some((e) => e.textContent === String(pid)), [after]);
    await page.locator(`[data-app="shop"] [data-field="pid"]:text-is("${before}")`).waitFor({ state: 'detached' });
    t.equal(await shownServingPid(page, 'shop'), after, `the page shows the new pid ${after}, not ${before}`);

    const seen = load.count;
    await t.resolves(waitUntil(() => load.count >= seen + 20), 'the load goes on after the restart');
    const samples = await load.stop();
    const failed = load.failures();
    t.same(failed.slice(0, 5), [], `0 failed requests out of ${samples.length}`);
    t.ok(samples.some((s) => s.pid === before) && samples.some((s) => s.pid === after), 'answered by the old instance, then the new one');
    const timeline = page.locator('ol.timeline li[data-restart]').first();
    t.match(await timeline.textContent(), /spawn.*ready.*switch.*drain.*stop/s, 'the restart timeline lists the steps');
  });

  t.test('a restart from gracevisorctl shows up in an open page without a reload', async (t) => {
    const { page, before } = await onAppPage(t, 'api');
    await page.evaluate(() => ((window as unknown as { gvNotReloaded: boolean }).gvNotReloaded = true));

    const r = await w.d.ctl('restart', 'api');
    t.equal(r.code, 0, 'gracevisorctl restart api');
    const [after] = await w.d.servingPids('api');
    t.not(after, before, 'a new instance serves');
    await page.locator(`[data-app="api"] [data-field="pid"]:text-is("${after}")`).waitFor();
    await page.locator(`[data-app="api"] [data-field="pid"]:text-is("${before}")`).waitFor({ state: 'detached' });
    t.equal(await shownServingPid(page, 'api'), after, `the page shows the new pid ${after}`);
    await page.locator('ol.timeline li[data-restart] .result.succeeded').first().waitFor();
    t.equal(await page.evaluate(() => (window as unknown as { gvNotReloaded?: boolean }).gvNotReloaded), true, 'the same page, not reloaded');
  });

  t.test('a POST without the CSRF token is refused and changes nothing; no GET changes anything', async (t) => {
    const page = await loggedIn(t);
    const [before] = await w.d.servingPids('shop');
    const tries = await page.evaluate(async () => {
      const out: { what: string; status: number; code: string | null }[] = [];
      const send = async (what: string, url: string, init: RequestInit): Promise<void> => {
        const r = await fetch(url, { credentials: 'same-origin', ...init });
        const body = await r.json().catch(() => null);
        out.push({ what, status: r.status, code: body?.error?.code ?? null });
      };
      await send('POST stop without X-CSRF-Token', '/api/apps/shop/stop', { method: 'POST' });
      await send('POST restart with a wrong X-CSRF-Token', '/api/apps/shop/restart', { method: 'POST', headers: { 'x-csrf-token': 'forged' } });
      await send('GET stop', '/api/apps/shop/stop', { method: 'GET' });
      await send('GET restart', '/api/apps/shop/restart', { method: 'GET' });
      return out;
    });
    t.match(tries[0], { status: 403, code: 'GV_ERR_WEB_CSRF' }, tries[0]!.what);
    t.match(tries[1], { status: 403, code: 'GV_ERR_WEB_CSRF' }, tries[1]!.what);
    t.match(tries[2], { status: 404 }, tries[2]!.what);
    t.match(tries[3], { status: 404 }, tries[3]!.what);
    const [shop] = await w.d.status('shop');
    t.equal(shop.state, 'running', 'shop still runs');
    t.same(await w.d.servingPids('shop'), [before], 'with the same instance');

    // The same request with the session's CSRF token does what it says: the check is what refused.
    const ok = await page.evaluate(async () => {
      const s = await (await fetch('/api/session', { credentials: 'same-origin' })).json();
      const r = await fetch('/api/apps/shop/stop', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': s.csrf } });
      return r.status;
    });
    t.equal(ok, 200, 'with the CSRF token: 200');
    t.equal((await w.d.status('shop'))[0].state, 'stopped', 'and shop stopped');
    t.equal((await w.d.ctl('start', 'shop')).code, 0, 'started again');
  });

  t.test('the plugins page lists the registry and the config check', async (t) => {
    const page = await loggedIn(t);
    await page.goto(`${w.base}/#/plugins`);
    await page.locator('text=engines.http').first().waitFor();
    t.match(await page.locator('main').textContent(), /healthchecks\.tcp[\s\S]*alerters\.webhook|alerters\.webhook[\s\S]*healthchecks\.tcp/, 'every kind of plugin');
    t.match(await page.locator('[data-config-check]').textContent(), /configuration ok/, 'and the check result');
  });
}

/** Wait until `cond` holds, polling; bounded by the test's own timeout only. */
async function waitUntil(cond: () => boolean): Promise<true> {
  while (!cond()) await new Promise((r) => setTimeout(r, 50));
  return true;
}
