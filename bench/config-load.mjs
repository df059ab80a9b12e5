#!/usr/bin/env node
// How long `gracevisord --check` takes on a config of N apps, in both syntaxes, and whether the time
// grows linearly with N (a quadratic step would show as the per-app cost rising with N).
//
//   npm run build && node bench/config-load.mjs [--apps 1000,5000,10000] [--runs 3]
//
// Each measurement is a fresh `node dist/cli/gracevisord.js --conf FILE --check` (process start,
// the bounded reader's worker, plugins, validation: what an operator waits for), median of --runs.
// The apps carry what a real app has: a command, a listen port, a health check and a logger key.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({ options: { apps: { type: 'string', default: '1000,5000,10000' }, runs: { type: 'string', default: '3' } } });
const sizes = args.apps.split(',').map(Number);
const runs = Number(args.runs);
const dir = mkdtempSync(join(tmpdir(), 'gv-config-load-'));

function yaml(n) {
  let s = `port_range: { from: 20000, to: ${20000 + 2 * n + 10} }\napps:\n`;
  for (let i = 0; i < n; i++) s += `  - name: app${i}\n    command: node app.js --port={port}\n    external_port: ${10000 + (i % 50000)}\n    external_host: 127.0.0.${1 + Math.floor(i / 50000)}\n    healthcheck: /health\n    logger: { max_log_size: 10M }\n`;
  return s;
}

function dsl(n) {
  let s = `port_range 20000 ${20000 + 2 * n + 10};\n`;
  for (let i = 0; i < n; i++) s += `app app${i} { command "node app.js --port={port}"; listen 127.0.0.${1 + Math.floor(i / 50000)}:${10000 + (i % 50000)}; healthcheck /health; logger { max_log_size 10M; } }\n`;
  return s;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  console.log(`config load, --check, median of ${runs} (load average ${loadavg()[0].toFixed(2)})`);
  console.log('apps      syntax  file      time      per app');
  for (const n of sizes) {
    for (const [syntax, make, ext] of [['yaml', yaml, 'yaml'], ['dsl', dsl, 'conf']]) {
      const file = join(dir, `gracevisor-${n}.${ext}`);
      const text = make(n);
      writeFileSync(file, text);
      const times = [];
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const res = spawnSync(process.execPath, [join(root, 'dist/cli/gracevisord.js'), '--conf', file, '--check'], { encoding: 'utf8' });
        const ms = performance.now() - t0;
        if (res.status !== 0) throw new Error(`--check of ${n} apps (${syntax}) failed: ${res.stderr.slice(0, 400)}`);
        times.push(ms);
      }
      const ms = median(times);
      console.log(`${String(n).padEnd(9)} ${syntax.padEnd(7)} ${(text.length / 1024 / 1024).toFixed(1).padStart(5)} MB  ${(ms / 1000).toFixed(2).padStart(6)} s  ${(ms * 1000 / n).toFixed(0).padStart(6)} µs`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
