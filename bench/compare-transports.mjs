#!/usr/bin/env node
// How the http engine's transport was chosen: the same wrk load through several ways of forwarding
// HTTP in Node, next to nginx, in interleaved rounds. Not part of `npm run bench`.
//   npm run build && node bench/compare-transports.mjs [--runs 3] [--duration 4]
// Candidates live in bench/transports/; http-proxy-3 runs only when HTTP_PROXY_3 points at an install.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { freePort, has, startNginx, startProcess } from './lib.mjs';
import { startEngine } from './subjects.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, duration: { type: 'string', default: '4' }, connections: { type: 'string', default: '50' } } });

function wrk(port, seconds) {
  return new Promise((resolve) => {
    const c = spawn('wrk', ['-t1', `-c${args.connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`]);
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('exit', () => resolve(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)));
  });
}

if (!has('wrk')) {
  console.error('wrk is not installed');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'gv-transports-'));
const procs = [];
try {
  const backend = await startProcess(process.execPath, [join(root, 'bench', 'backend.mjs'), '0'], { readyLine: true });
  procs.push(backend);
  const up = backend.port;
  const candidate = async (file) => startProcess(process.execPath, [join(root, 'bench', 'transports', file), String(await freePort()), String(up)], { readyLine: true });
  const subjects = [];
  if (has('nginx')) subjects.push(['nginx proxy', await startNginx(dir, await freePort(), up)]);
  subjects.push(['http.Agent keepAlive', await candidate('agent.mjs')]);
  subjects.push(['undici Pool dispatch', await candidate('undici-pool.mjs')]);
  if (process.env.HTTP_PROXY_3 && existsSync(process.env.HTTP_PROXY_3)) subjects.push(['http-proxy-3', await candidate('http-proxy-3.mjs')]);
  subjects.push(['engines.http', await startEngine({ root }, 'http', up)]);
  procs.push(...subjects.map(([, p]) => p));
  const samples = new Map(subjects.map(([n]) => [n, []]));
  for (const [, p] of subjects) await wrk(p.port, 1);
  for (let r = 0; r < Number(args.runs); r++) {
    for (const [n, p] of subjects) samples.get(n).push(await wrk(p.port, Number(args.duration)));
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const nginx = samples.has('nginx proxy') ? med(samples.get('nginx proxy')) : NaN;
  for (const [n, xs] of samples) {
    console.log(`${n.padEnd(22)} ${med(xs).toFixed(0).padStart(7)} req/s  ${Number.isFinite(nginx) ? `${(med(xs) / nginx).toFixed(2)}x nginx` : ''}  [${xs.map((x) => x.toFixed(0)).join(' ')}]`);
  }
} finally {
  await Promise.allSettled(procs.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
}
