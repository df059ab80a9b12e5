#!/usr/bin/env node
// Restarts under load through the real daemon (issue 14): `restarts` hitless restarts of one app,
// one after the other, while `clients` keep-alive clients loop GET / through its engine; counts the
// requests that failed (an error or a non-200). The goal is 0.
//   npm run build && node bench/restart-load.mjs [restarts=100] [clients=50] [proxy=http]
// `proxy` is the app's engine: http (the native data plane where it built), http_js, tcp, splice.
// The app is test/fixtures/apps/ws-app.mjs (GET /, readiness /health). Bounded: at most 30 minutes.
import { keepAliveLoad, startWsDaemon } from './lib.mjs';

const restarts = Number(process.argv[2] ?? 100);
const clients = Number(process.argv[3] ?? 50);
const proxy = process.argv[4] ?? 'http';
let ControlClient;
try {
  ({ ControlClient } = await import('../dist/control/client.js'));
} catch (err) {
  console.error(`bench/restart-load.mjs needs the build: run \`npm run build\` first (${err.message})`);
  process.exit(2);
}

const daemon = await startWsDaemon('restart-load', [`proxy: ${proxy}`, 'drain_timeout: 10s']);
const ctl = new ControlClient({ socket: daemon.socket });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let traffic = null;
let code = 0;
try {
  for (let i = 0; i < 200 && (await ctl.status('web').catch(() => []))[0]?.state !== 'running'; i++) await sleep(100);
  const engine = (await ctl.plugins()).find((p) => p.id === `engines.${proxy}`);
  console.log(`restart-load: ${restarts} restarts, ${clients} keep-alive clients, proxy ${proxy}: ${engine?.description ?? '?'}`);
  traffic = keepAliveLoad(daemon.publicPort, clients);
  const { load } = traffic;
  const deadline = Date.now() + 30 * 60_000;
  const t0 = performance.now();
  let done = 0;
  let failedRestarts = 0;
  for (let i = 0; i < restarts && Date.now() < deadline; i++) {
    const r = await ctl.restart('web').catch((e) => ({ ok: false, error: e.message }));
    if (r.ok === false) failedRestarts++;
    done++;
    if ((i + 1) % 10 === 0) process.stderr.write(`  ${i + 1}/${restarts} restarts, ${load.requests} requests, ${load.failed} failed\n`);
  }
  const seconds = (performance.now() - t0) / 1000;
  await sleep(200);
  await traffic.stop();
  console.log(`restarts done ${done} (failed ${failedRestarts}) in ${seconds.toFixed(1)} s; requests ${load.requests}, failed ${load.failed} (${(load.requests / seconds).toFixed(0)} req/s)`);
  if (load.failed) console.log(`errors: ${JSON.stringify(load.errors)}`);
  code = load.failed === 0 && failedRestarts === 0 ? 0 : 1;
} catch (err) {
  console.error(err);
  code = 1;
} finally {
  await traffic?.stop();
  await daemon.stop();
}
process.exit(code);
