#!/usr/bin/env node
// Soak: many restarts of one app through the real daemon, under keep-alive load, with a slow request
// and a WebSocket open across each restart. Reports failed requests (goal 0), WebSocket failures, and
// the daemon's open fds, RSS and the listening ports of its port_range at the start and the end.
//   npm run build && node bench/soak.mjs [restarts=1000] [clients=4]
//
// Every restart: open a WebSocket and get one echo; start GET /slow?ms=300; restart the app through
// the control API; during the restart, echo on the WebSocket again (it stays on the old instance);
// then close the WebSocket (so the old instance can drain and exit); the slow request must answer 200. The
// clients loop GET / on keep-alive connections all the while; any status other than 200, or any
// socket error, is a failed request. Bounded: at most `restarts` restarts and 60 minutes.
import { readdirSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import WebSocket from 'ws';
import { getStatus, startWsDaemon } from './lib.mjs';

const restarts = Number(process.argv[2] ?? 1000);
const clients = Number(process.argv[3] ?? 4);
let ControlClient;
try {
  ({ ControlClient } = await import('../dist/control/client.js'));
} catch (err) {
  console.error(`bench/soak.mjs needs the build: run \`npm run build\` first (${err.message})`);
  process.exit(2);
}

const daemon = await startWsDaemon('soak', ['stop_timeout: 10s']);
const { publicPort, range } = daemon;
const ctl = new ControlClient({ socket: daemon.socket });

/** RSS and open fds of the daemon (not its holder; its pid from the control API), and the port range's listeners. */
async function measure() {
  const pid = (await ctl.version()).pid;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const holderFds = readdirSync(`/proc/${daemon.child.pid}/fd`).length;
  // Listening sockets on the port_range (hex port in /proc/net/tcp, state 0A = LISTEN).
  let ports = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== '0A') continue;
    const p = parseInt(f[1].split(':')[1], 16);
    if (p >= range.from && p < range.from + range.size) ports++;
  }
  return { rssMiB: +(rssKb / 1024).toFixed(1), fds, holderFds, ports };
}

const get = (agent, path) => getStatus(publicPort, path, agent);

function wsOpen() {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${publicPort}/`);
    ws.once('open', () => res(ws));
    ws.once('error', rej);
  });
}
function wsEcho(ws, msg) {
  return new Promise((res) => {
    const t = setTimeout(() => res('no echo in 10 s'), 10_000);
    ws.once('message', (m) => { clearTimeout(t); res(/^\d+:/.test(m.toString()) && m.toString().endsWith(msg) ? null : `bad echo ${m}`); });
    ws.once('close', () => { clearTimeout(t); res('closed'); });
    ws.send(msg);
  });
}

let done = false;
const counts = { requests: 0, failed: 0, slowFailed: 0, wsFailed: 0, restartsFailed: 0 };
const errors = new Map();
const debug = process.env.SOAK_DEBUG ? (...a) => console.error('soak:', ...a) : () => {};
const fail = (what, e) => { errors.set(`${what}: ${e}`, (errors.get(`${what}: ${e}`) ?? 0) + 1); };
const deadline = Date.now() + 60 * 60_000;
let result = 0;
try {
  for (let i = 0; i < 100 && (await ctl.status('web'))[0]?.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
  const loops = Array.from({ length: clients }, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (!done) {
      const e = await get(agent, '/');
      counts.requests++;
      if (e) { counts.failed++; fail('GET /', e); }
    }
    agent.destroy();
  });
  debug('loops started');
  const start = await measure();
  const t0 = Date.now();
  let n = 0;
  for (; n < restarts && Date.now() < deadline; n++) {
    let ws = null;
    debug('restart', n);
    try {
      ws = await wsOpen();
      const e1 = await wsEcho(ws, `before ${n}`);
      if (e1) { counts.wsFailed++; fail('ws before', e1); }
    } catch (e) {
      counts.wsFailed++;
      fail('ws open', e.code ?? e.message);
    }
    const slow = get(undefined, '/slow?ms=300');
    const restart = ctl.restart('web').then(() => null, (e) => e.code ?? e.message);
    await new Promise((r) => setTimeout(r, 100));
    if (ws) {
      const e2 = await wsEcho(ws, `during ${n}`);
      if (e2) { counts.wsFailed++; fail('ws during', e2); }
      // The old instance drains until its last connection closes: the restart ends after this.
      ws.close();
    }
    debug('waiting');
    const [rs, se] = await Promise.all([restart, slow]);
    debug('restarted', rs, se);
    if (rs) { counts.restartsFailed++; fail('restart', rs); }
    if (se) { counts.slowFailed++; fail('GET /slow', se); }
    if ((n + 1) % 100 === 0) console.error(`soak: ${n + 1} restarts, ${counts.requests} requests, ${counts.failed} failed, ${JSON.stringify(await measure())}`);
  }
  done = true;
  await Promise.all(loops);
  // Let the last old instance finish (its WebSocket was just closed) before the end figures.
  await new Promise((r) => setTimeout(r, 1500));
  const end = await measure();
  const s = (Date.now() - t0) / 1000;
  console.log(JSON.stringify({ restarts: n, seconds: +s.toFixed(0), clients, ...counts, start, end, errors: Object.fromEntries(errors) }, null, 2));
  result = counts.failed + counts.slowFailed + counts.wsFailed + counts.restartsFailed === 0 ? 0 : 1;
} catch (err) {
  console.error(`soak: ${err.stack ?? err}\n${daemon.log().slice(-2000)}`);
  result = 2;
} finally {
  done = true;
  await daemon.stop();
}
process.exit(result);
