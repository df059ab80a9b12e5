#!/usr/bin/env node
// `npm run bench`: side-by-side throughput of gracevisor's engines and of nginx/haproxy, in one run.
//
//   npm run build && npm run bench -- [--runs 3] [--duration 5] [--connections 50] [--only http|tcp]
//                                     [--subjects REGEX] [--backend nginx|node] [--json FILE]
//
// It starts a fast keep-alive HTTP backend — nginx answering a fixed 200 body (one worker) when nginx
// is installed, else bench/backend.mjs (Node; slower than nginx, so it caps every proxy: the table
// says which) — and an iperf3 server, then every subject
// of bench/subjects.mjs (plus bench/splice-subjects.mjs when present), each in its own process: our
// engines from dist/ through bench/engine-proxy.mjs, nginx and haproxy with throwaway configs on free
// loopback ports when they are installed. HTTP subjects are measured with wrk, TCP ones with iperf3,
// in interleaved rounds (subject A, B, C, then again) so a busy moment hurts all of them alike; the
// table shows medians and ratios to "direct" and to the group's reference (nginx / haproxy tcp), and
// for http the CPU each proxy used per request (its process and children, from /proc, over the run
// divided by the requests wrk counted).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, has, startNginxBackend, startProcess, treeCpuSeconds } from './lib.mjs';
import { subjects as builtin } from './subjects.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '1' },
    only: { type: 'string' },
    subjects: { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'string' },
  },
});
const runs = Number(args.runs);
const duration = Number(args.duration);

function run(cmd, argv) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

/** One wrk run: req/s, p99 latency in ms, and errors (socket errors + non-2xx). */
async function wrk(port, seconds) {
  const { out } = await run('wrk', [`-t${args.threads}`, `-c${args.connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p99m = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const p99 = p99m ? Number(p99m[1]) * { us: 0.001, ms: 1, s: 1000 }[p99m[2]] : NaN;
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p99, errors };
}

/** One iperf3 run: received Gbit/s. */
async function iperf(port, seconds) {
  const { out } = await run('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J']);
  try {
    const j = JSON.parse(out);
    if (j.error) return { gbps: NaN, errors: 1, note: j.error };
    return { gbps: j.end.sum_received.bits_per_second / 1e9, errors: 0 };
  } catch {
    return { gbps: NaN, errors: 1 };
  }
}

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

async function main() {
  if (!existsSync(join(root, 'dist', 'engines', 'index.js'))) {
    console.error('dist/ is missing: run `npm run build` first');
    process.exit(2);
  }
  let all = [...builtin];
  const extra = join(root, 'bench', 'splice-subjects.mjs');
  if (existsSync(extra)) all = all.concat((await import(pathToFileURL(extra).href)).subjects ?? []);
  if (args.only) all = all.filter((s) => s.group === args.only);
  if (args.subjects) all = all.filter((s) => s.direct || new RegExp(args.subjects).test(s.name));

  const tools = { wrk: has('wrk'), iperf3: has('iperf3'), nginx: has('nginx'), haproxy: has('haproxy'), caddy: has('caddy') };
  const skipped = [];
  if (!tools.wrk) skipped.push('all http subjects: wrk is not installed (apt-get install -y wrk)');
  if (!tools.iperf3) skipped.push('all tcp subjects: iperf3 is not installed (apt-get install -y iperf3)');
  all = all.filter((s) => {
    if (s.group === 'http' && !tools.wrk) return false;
    if (s.group === 'tcp' && !tools.iperf3) return false;
    const missing = (s.needs ?? []).filter((n) => !(n in tools ? tools[n] : has(n)));
    if (missing.length) skipped.push(`${s.name}: ${missing.join(', ')} not installed`);
    return missing.length === 0;
  });

  const dir = mkdtempSync(join(tmpdir(), 'gv-bench-'));
  const started = [];
  const cleanup = async () => {
    await Promise.allSettled(started.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });

  try {
    console.log(`gracevisor bench: ${cpus().length} cpus, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${runs} runs of ${duration}s per subject, wrk -t${args.threads} -c${args.connections}, iperf3 -t${duration}`);
    const useNginx = (args.backend ?? (tools.nginx ? 'nginx' : 'node')) === 'nginx';
    const backend = useNginx
      ? await startNginxBackend(dir, await freePort())
      : await startProcess(process.execPath, [join(root, 'bench', 'backend.mjs'), '0'], { readyLine: true });
    started.push(backend);
    console.log(`http backend: ${useNginx ? 'nginx, one worker, return 200 "hello\\n"' : 'bench/backend.mjs (Node: it caps the proxies; install nginx for a faster one)'}`);
    let iperfPort = 0;
    if (tools.iperf3) {
      iperfPort = await freePort();
      started.push(await startProcess('iperf3', ['-s', '-p', String(iperfPort)], { port: iperfPort }));
    }
    const ctx = { dir, root, httpBackendPort: backend.port, iperfPort };

    const live = [];
    for (const s of all) {
      try {
        const h = await s.start(ctx);
        started.push(h);
        live.push({ s, port: h.port, pid: h.child?.pid ?? null, samples: [] });
      } catch (err) {
        skipped.push(`${s.name}: failed to start: ${err.message.split('\n')[0]}`);
      }
    }
    // Warm up each subject (JIT, connection pools) before anything is recorded.
    for (const l of live) {
      if (l.s.group === 'http') await wrk(l.port, 1);
      else await iperf(l.port, 1);
    }
    for (let r = 0; r < runs; r++) {
      for (const l of live) {
        const cpu0 = l.pid ? treeCpuSeconds(l.pid) : NaN;
        const m = l.s.group === 'http' ? await wrk(l.port, duration) : await iperf(l.port, duration);
        const cpu = l.pid ? treeCpuSeconds(l.pid) - cpu0 : NaN;
        // µs of the proxy's CPU per request (http; NaN for direct, whose CPU is the backend's).
        m.cpuUs = l.s.group === 'http' ? (cpu / (m.rps * duration)) * 1e6 : NaN;
        l.samples.push(m);
        process.stderr.write(`  run ${r + 1}/${runs} ${l.s.group.padEnd(4)} ${l.s.name.padEnd(20)} ${l.s.group === 'http' ? `${m.rps.toFixed(0)} req/s p99 ${m.p99.toFixed(2)} ms cpu ${m.cpuUs.toFixed(1)} us/req` : `${m.gbps.toFixed(2)} Gbit/s`}${m.errors ? ` (${m.errors} errors)` : ''}\n`);
      }
    }

    const rows = [];
    for (const group of ['http', 'tcp']) {
      const g = live.filter((l) => l.s.group === group);
      if (g.length === 0) continue;
      const value = (l) => median(l.samples.map((m) => (group === 'http' ? m.rps : m.gbps)));
      const direct = g.find((l) => l.s.direct);
      const ref = g.find((l) => l.s.reference);
      for (const l of g) {
        const v = value(l);
        rows.push({
          group, subject: l.s.name,
          value: v, unit: group === 'http' ? 'req/s' : 'Gbit/s',
          p99ms: group === 'http' ? median(l.samples.map((m) => m.p99)) : null,
          cpuUsPerReq: group === 'http' ? median(l.samples.map((m) => m.cpuUs)) : null,
          vsDirect: direct ? v / value(direct) : null,
          vsReference: ref ? v / value(ref) : null,
          reference: ref?.s.name ?? null,
          errors: l.samples.reduce((a, m) => a + m.errors, 0),
          samples: l.samples,
        });
      }
    }
    const fmt = (x, d) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));
    const header = ['group', 'subject', 'median', 'unit', 'p99 ms', 'cpu us/req', 'x direct', 'x ref', 'ref', 'errors'];
    const table = rows.map((r) => [r.group, r.subject, fmt(r.value, r.unit === 'req/s' ? 0 : 2), r.unit, fmt(r.p99ms, 2), fmt(r.cpuUsPerReq, 1), fmt(r.vsDirect, 2), fmt(r.vsReference, 2), r.reference ?? '-', String(r.errors)]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const line = (cells) => cells.map((c, i) => (i >= 2 && i <= 7 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
    console.log('');
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const row of table) console.log(line(row));
    for (const s of skipped) console.log(`skipped: ${s}`);
    if (args.json) writeFileSync(args.json, JSON.stringify({ at: new Date().toISOString(), cpus: cpus().length, runs, duration, connections: Number(args.connections), rows, skipped }, null, 2));
  } finally {
    await cleanup();
  }
}

await main();
