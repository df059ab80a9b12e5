#!/usr/bin/env node
// Makes the README's dashboard screenshots (docs/screenshots/): a real gracevisord (the build output)
// with four apps — two serving under a little HTTP load, one stopped, one that gave up — one restart
// clicked in the page, then the overview (desktop and phone width) and an app page, in Debian's
// headless Chromium through playwright-core. Everything it starts is stopped at the end, by pid.
//   npm run build && node scripts/dashboard-screenshots.mjs
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'docs', 'screenshots');
const TOKEN = 'screenshot-token';

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

const dir = mkdtempSync(join(tmpdir(), 'gv-shots-'));
const [shop, api, reports, mailer, web] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
const demo = `${process.execPath} ${join(ROOT, 'examples', 'demoapp.mjs')} --port={port}`;
writeFileSync(join(dir, 'gracevisor.yaml'), `port_range: { from: 32100, to: 32140 }
run_dir: ${dir}/run
rpc: { socket: ${dir}/ctl.sock, token: ${TOKEN} }
logger: { log_dir: ${dir}/log }
web: { listen: 127.0.0.1:${web} }
apps:
  - { name: shop, command: "${demo}", healthcheck: /health, external_host: 127.0.0.1, external_port: ${shop}, drain_timeout: 2s }
  - { name: api, command: "${demo}", healthcheck: /health, external_host: 127.0.0.1, external_port: ${api} }
  - { name: reports, command: "${demo}", proxy: tcp, external_host: 127.0.0.1, external_port: ${reports} }
  - { name: mailer, command: "${process.execPath} ${join(ROOT, "examples", "demoapp.mjs")} --port=nope{port}", external_host: 127.0.0.1, external_port: ${mailer}, max_retries: 1 }
`);

const daemon = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'gracevisord.js'), '--conf', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
daemon.stderr.on('data', (c) => (log += c));
const ctl = (...args) => new Promise((resolve) => {
  const c = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'gracevisorctl.js'), '--socket', join(dir, 'ctl.sock'), ...args], { stdio: 'ignore' });
  c.on('close', resolve);
});

let server = null;
let loading = true;
try {
  for (let i = 0; i < 200 && !/event=daemon_ready/.test(log); i++) await sleep(100);
  if (!/event=daemon_ready/.test(log)) throw new Error(`gracevisord did not start:\n${log}`);
  await ctl('stop', 'reports');

  // A little traffic, so the charts show something: shop busy, api quiet, a few 404s on api.
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const hit = (port, path = '/') => new Promise((r) => request({ host: '127.0.0.1', port, path, agent }, (res) => res.resume().on('end', r)).on('error', r).end());
  const load = (async () => {
    for (let n = 0; loading; n++) {
      await Promise.all([hit(shop), hit(shop), n % 3 === 0 ? hit(api, n % 30 === 0 ? '/nope' : '/') : null]);
      await sleep(15);
    }
  })();

  server = await chromium.launchServer({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const browser = await chromium.connect(server.wsEndpoint());
  const base = `http://127.0.0.1:${web}`;
  const desk = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await desk.goto(`${base}/?token=${TOKEN}`);
  await desk.locator('[data-link="live"]').waitFor();
  await sleep(20_000);
  // A restart clicked in the page, for the timeline and the last-restart column.
  await desk.goto(`${base}/#/app/shop`);
  await desk.click('button[data-action="restart"]');
  await desk.click('button[data-confirm="restart"]');
  await desk.locator('[data-outcome]').waitFor({ timeout: 60_000 });
  await sleep(8_000);

  mkdirSync(OUT, { recursive: true });
  await desk.goto(`${base}/#/`);
  await desk.locator('article[data-app="shop"]').waitFor();
  await sleep(1500);
  await desk.screenshot({ path: join(OUT, 'overview.png'), fullPage: true });
  await desk.goto(`${base}/#/app/shop`);
  await desk.locator('.logs .line').first().waitFor();
  await sleep(1500);
  await desk.screenshot({ path: join(OUT, 'app.png'), fullPage: true });

  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true });
  await phone.goto(`${base}/?token=${TOKEN}`);
  await phone.locator('article[data-app="shop"]').waitFor();
  await sleep(2500);
  await phone.screenshot({ path: join(OUT, 'overview-phone.png') });
  loading = false;
  await load;
  agent.destroy();
  await browser.close();
  console.log(`wrote ${OUT}/overview.png, app.png, overview-phone.png`);
} finally {
  loading = false;
  await server?.close().catch(() => undefined);
  daemon.kill('SIGTERM');
  await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.on('exit', r)));
  rmSync(dir, { recursive: true, force: true });
}
