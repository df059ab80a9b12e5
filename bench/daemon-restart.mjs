#!/usr/bin/env node
// What an upgrade and a crash of gracevisord cost, under keep-alive load, through the real binary
// (the holder and its daemon: docs/architecture.md "Restartable daemon").
//   npm run build && node bench/daemon-restart.mjs [upgrades=10] [crashes=10] [clients=4]
//
// One app (test/fixtures/apps/ws-app.mjs). `clients` keep-alive clients loop GET / all the while.
//   upgrade  `POST /v1/upgrade` (= gracevisorctl upgrade), one after the other, with a GET /slow?ms=500
//            in flight each time; reports failed requests, the handover time, whether the app pid changed.
//   crash    SIGKILL the daemon (not the holder), then at once 8 GETs on fresh connections; "serving
//            again" is when the last of them is answered (they wait in the listen backlog the holder
//            keeps). Failed requests are the ones in flight on connections the killed daemon held.
//            Crashes are 21 s apart: the holder restarts at once for up to three crashes a minute
//            (then after 1 s, and gives up at five), and this measures the at-once case.
// Bounded: at most 30 minutes.
import { request } from 'node:http';
import { keepAliveLoad, startWsDaemon } from './lib.mjs';

const upgrades = Number(process.argv[2] ?? 10);
const crashes = Number(process.argv[3] ?? 10);
const clients = Number(process.argv[4] ?? 4);
let ControlClient;
try {
  ({ ControlClient } = await import('../dist/control/client.js'));
} catch (err) {
  console.error(`bench/daemon-restart.mjs needs the build: run \`npm run build\` first (${err.message})`);
  process.exit(2);
}

const daemon = await startWsDaemon('daemon-restart', ['drain_timeout: 10s']);
const { publicPort } = daemon;
const ctl = new ControlClient({ socket: daemon.socket });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : null);
const max = (xs) => (xs.length ? Math.max(...xs) : null);

function get(agent, path) {
  return new Promise((res) => {
    const req = request({ host: '127.0.0.1', port: publicPort, path, agent: agent ?? false }, (r) => {
      r.resume();
      r.on('end', () => res({ ok: r.statusCode === 200, pid: Number(r.headers['x-instance-pid']), error: r.statusCode === 200 ? null : `status ${r.statusCode}` }));
      r.on('error', (e) => res({ ok: false, error: e.code ?? e.message }));
    });
    req.on('error', (e) => res({ ok: false, error: e.code ?? e.message }));
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

let traffic = null;
let code = 0;
try {
  for (let i = 0; i < 100 && (await ctl.status('web').catch(() => []))[0]?.state !== 'running'; i++) await sleep(100);
  const appPid = (await ctl.status('web'))[0].instances.find((i) => i.state === 'serving').pid;
  traffic = keepAliveLoad(publicPort, clients);
  const { load } = traffic;
  const deadline = Date.now() + 30 * 60_000;

  const up = { failedBefore: load.failed, requestsBefore: load.requests, ms: [], slowFailed: 0, errors: 0 };
  for (let i = 0; i < upgrades && Date.now() < deadline; i++) {
    const slow = get(undefined, '/slow?ms=500');
    await sleep(50);
    try {
      up.ms.push((await ctl.upgrade()).durationMs);
    } catch (e) {
      up.errors++;
      console.error(`upgrade ${i + 1}: ${e.message}`);
    }
    if (!(await slow).ok) up.slowFailed++;
    await sleep(200);
  }
  const afterUp = { failed: load.failed - up.failedBefore, requests: load.requests - up.requestsBefore };

  const cr = { failedBefore: load.failed, requestsBefore: load.requests, servedMs: [] };
  for (let i = 0; i < crashes && Date.now() < deadline; i++) {
    const pid = (await ctl.version()).pid;
    const t0 = performance.now();
    process.kill(pid, 'SIGKILL');
    const probes = await Promise.all(Array.from({ length: 8 }, () => get(undefined, '/').then((r) => ({ ...r, ms: performance.now() - t0 }))));
    cr.servedMs.push(Math.round(Math.max(...probes.map((p) => p.ms))));
    if (!probes.every((p) => p.ok)) cr.probeFailures = (cr.probeFailures ?? 0) + probes.filter((p) => !p.ok).length;
    // The next crash once the new daemon answers its control API (it adopted the app).
    for (let k = 0; k < 300; k++) {
      const v = await ctl.version().catch(() => null);
      if (v && v.pid !== pid) break;
      await sleep(20);
    }
    await sleep(21_000 - (performance.now() - t0));
  }
  const afterCrash = { failed: load.failed - cr.failedBefore, requests: load.requests - cr.requestsBefore };
  await traffic.stop();
  const appPidAfter = (await ctl.status('web'))[0].instances.find((i) => i.state === 'serving')?.pid;
  const result = {
    clients,
    upgrades: { done: up.ms.length, failedUpgrades: up.errors, requests: afterUp.requests, failedRequests: afterUp.failed, slowFailed: up.slowFailed, handoverMsMedian: median(up.ms), handoverMsMax: max(up.ms) },
    crashes: { done: cr.servedMs.length, requests: afterCrash.requests, failedRequests: afterCrash.failed, probesFailed: cr.probeFailures ?? 0, servingAgainMsMedian: median(cr.servedMs), servingAgainMsMax: max(cr.servedMs) },
    appPidUnchanged: appPid === appPidAfter,
    errors: load.errors,
  };
  console.log(JSON.stringify(result, null, 2));
  code = result.appPidUnchanged && up.errors === 0 ? 0 : 1;
} catch (err) {
  console.error(`daemon-restart: ${err.stack ?? err}\n${daemon.log().slice(-3000)}`);
  code = 2;
} finally {
  await traffic?.stop();
  await daemon.stop();
}
process.exit(code);
