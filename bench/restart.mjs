#!/usr/bin/env node
// Restart benchmark: how fast traffic moves to a new instance, and how long a whole restart takes.
//   npm run build && node bench/restart.mjs [runs=15] [clients=8]
//
// For each run it restarts the demo app (examples/demoapp.mjs) behind the http engine while keep-alive
// clients send requests, and records, outside the daemon's own readiness loop:
//   acceptAt   first moment the new instance's port accepts a TCP connection (our own 1 ms probe loop,
//              started when onInstanceStarting reports the new port)
//   switchAt   onSwitched (the engine got the new target)
//   firstAt    first response carrying the new pid (x-instance-pid) seen by a client
// and prints medians and p90 of: switch latency (switchAt - acceptAt), first response from the new
// pid (firstAt - acceptAt), readiness (onInstanceReady.readyMs), and the whole restart (restartApp).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const runs = Number(process.argv[2] ?? 15);
const clients = Number(process.argv[3] ?? 8);
const repo = resolve(new URL('..', import.meta.url).pathname);
let Supervisor;
let createRegistry;
try {
  ({ Supervisor } = await import('../dist/supervisor/supervisor.js'));
  ({ createRegistry } = await import('../dist/builtins.js'));
} catch (err) {
  console.error(`bench/restart.mjs needs the build: run \`npm run build\` first (${err.message})`);
  process.exit(2);
}

const freePort = () => new Promise((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => r(port));
  });
});

const dir = mkdtempSync(join(tmpdir(), 'gv-bench-'));
const publicPort = await freePort();
const from = 20000 + Math.floor(Math.random() * 10000);
writeFileSync(join(dir, 'gracevisor.yaml'), `
port_range: { from: ${from}, to: ${from + 50} }
run_dir: ${join(dir, 'run')}
logger: { log_dir: ${join(dir, 'log')} }
apps:
  - name: demo
    command: ${process.execPath} ${join(repo, 'examples/demoapp.mjs')} --port={port}
    internal_host: 127.0.0.1
    external_host: 127.0.0.1
    external_port: ${publicPort}
    drain_timeout: 10s
    stop_timeout: 5s
`);

let current = null; // { port, pid, acceptAt, switchAt, firstAt, readyMs }
const probe = (port) => {
  const t0 = performance.now();
  const tryOnce = () => {
    if (!current || current.port !== port || current.acceptAt) return;
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      if (current && current.port === port && !current.acceptAt) current.acceptAt = performance.now();
      s.destroy();
    });
    s.once('error', () => {
      s.destroy();
      if (performance.now() - t0 < 10_000) setTimeout(tryOnce, 1);
    });
  };
  tryOnce();
};

const plugin = {
  name: 'bench:restart',
  apiVersion: 1,
  hooks: {
    onInstanceStarting: (_ctx, e) => {
      if (current && current.port === null) {
        current.port = e.instance.port;
        current.pid = e.instance.pid;
        probe(e.instance.port);
      }
    },
    onInstanceReady: (_ctx, e) => {
      if (current && current.port === e.instance.port) current.readyMs = e.readyMs;
    },
    onSwitched: (_ctx, e) => {
      if (current && e.to.some((i) => i.port === current.port) && !current.switchAt) current.switchAt = performance.now();
    },
  },
};

const sup = await Supervisor.load(join(dir, 'gracevisor.yaml'), { createRegistry, plugins: [plugin] });
await sup.start();

let running = true;
const loops = Array.from({ length: clients }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while (running) {
    await new Promise((done) => {
      const req = request({ host: '127.0.0.1', port: publicPort, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const pid = Number(res.headers['x-instance-pid']);
          if (current && current.pid === pid && !current.firstAt) current.firstAt = performance.now();
          done();
        });
      });
      req.on('error', () => done());
      req.end();
    });
  }
  agent.destroy();
});

const rows = [];
await new Promise((r) => setTimeout(r, 300));
for (let i = 0; i < runs; i++) {
  current = { port: null, pid: null, acceptAt: 0, switchAt: 0, firstAt: 0, readyMs: 0 };
  const t0 = performance.now();
  const res = await sup.restartApp('demo');
  const total = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 100));
  const c = current;
  if (!res.ok || !c.acceptAt || !c.switchAt || !c.firstAt) {
    console.error(`run ${i + 1}: incomplete`, { ok: res.ok, ...c });
    continue;
  }
  rows.push({ switchMs: c.switchAt - c.acceptAt, firstMs: c.firstAt - c.acceptAt, readyMs: c.readyMs, restartMs: total });
}
running = false;
await Promise.all(loops);
await sup.shutdown();
rmSync(dir, { recursive: true, force: true });

const stat = (key) => {
  const v = rows.map((r) => r[key]).sort((a, b) => a - b);
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
  return `median ${q(0.5).toFixed(1)} ms   p90 ${q(0.9).toFixed(1)} ms   max ${v[v.length - 1].toFixed(1)} ms`;
};
console.log(`gracevisor restart bench: ${rows.length} runs of the demo app, ${clients} keep-alive clients, node ${process.version}`);
console.log(`switch latency (port accepts -> onSwitched):        ${stat('switchMs')}`);
console.log(`first response from the new pid (after accept):     ${stat('firstMs')}`);
console.log(`spawn -> ready (onInstanceReady.readyMs):           ${stat('readyMs')}`);
console.log(`whole restart (restartApp: spawn..old stopped):     ${stat('restartMs')}`);
