#!/usr/bin/env node
// The splice engine's own benchmark: iperf3 through engines.splice under several tunings, beside
// direct, engines.tcp, and haproxy in tcp mode with and without splicing, in one run.
//
//   npm run build && node bench/splice.mjs [--runs 5] [--duration 3] [--json FILE] [--parallel 1] [--reverse] [--only REGEX]
//
// Every subject runs in its own process (ours from dist/). Rounds are interleaved (A, B, C, then
// again) so a busy moment on the machine hurts all subjects alike; the table gives medians and ratios
// to direct and to engines.tcp from the same run. `npm run bench` includes the default-tuned
// engines.splice and haproxy tcp splice through bench/splice-subjects.mjs.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, has, startHaproxy, startProcess } from './lib.mjs';
import { startSplice, startHaproxySplice } from './splice-subjects.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    duration: { type: 'string', default: '3' },
    parallel: { type: 'string', default: '1' },
    reverse: { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'string' },
  },
});
const runs = Number(args.runs);
const duration = Number(args.duration);

const KiB = 1024;
const MiB = 1024 * KiB;
/** Tunings tried; the first is the engine's default. */
const tunings = [
  { name: 'splice default (pipe 64K->1M, chunk 1M, LT, MORE)', tuning: {} },
  { name: 'splice pipe 1M from the start', tuning: { pipeSize: MiB, growPipes: false } },
  { name: 'splice pipe 64K chunk 64K', tuning: { pipeSize: 64 * KiB, chunkSize: 64 * KiB } },
  { name: 'splice pipe 256K chunk 256K', tuning: { pipeSize: 256 * KiB, chunkSize: 256 * KiB } },
  { name: 'splice pipe 1M chunk 64K', tuning: { pipeSize: MiB, chunkSize: 64 * KiB } },
  { name: 'splice level-triggered', tuning: { edgeTriggered: false } },
  { name: 'splice level-triggered, no SPLICE_F_MORE', tuning: { edgeTriggered: false, spliceMore: false } },
  { name: 'splice edge-triggered', tuning: { edgeTriggered: true } },
  { name: 'splice without SPLICE_F_MORE', tuning: { spliceMore: false } },
];

/** One iperf3 run in Gbit/s; retried once when the server is still finishing the previous test. */
async function iperf(port, seconds) {
  const g = await iperfOnce(port, seconds);
  if (g !== 'busy') return g;
  await new Promise((r) => setTimeout(r, 500));
  const again = await iperfOnce(port, seconds);
  return again === 'busy' ? NaN : again;
}

function iperfOnce(port, seconds) {
  return new Promise((resolve) => {
    const argv = ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-P', args.parallel, '-J', ...(args.reverse ? ['-R'] : [])];
    const child = spawn('iperf3', argv, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', () => {
      try {
        const j = JSON.parse(out);
        if (j.error && /busy/.test(j.error)) return resolve('busy');
        if (j.error) process.stderr.write(`  iperf3: ${j.error}\n`);
        resolve(j.error ? NaN : j.end.sum_received.bits_per_second / 1e9);
      } catch {
        process.stderr.write(`  iperf3 printed no JSON: ${out.slice(0, 200)}\n`);
        resolve(NaN);
      }
    });
  });
}

/** CPU time (user + system, clock ticks of 10 ms) a process has used so far, or NaN. */
function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

async function main() {
  if (!existsSync(join(root, 'dist', 'engines', 'splice.js'))) {
    console.error('dist/ is missing: run `npm run build` first');
    process.exit(2);
  }
  if (!has('iperf3')) {
    console.error('iperf3 is not installed (apt-get install -y iperf3)');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'gv-splice-bench-'));
  const started = [];
  const skipped = [];
  try {
    const iperfPort = await freePort();
    started.push(await startProcess('iperf3', ['-s', '-p', String(iperfPort)], { port: iperfPort }));
    const ctx = { dir, root, iperfPort };
    const subjects = [
      { name: 'direct', start: async () => ({ port: iperfPort, stop: async () => {} }) },
      { name: 'engines.tcp', start: async () => startProcess(process.execPath, [join(root, 'bench', 'engine-proxy.mjs'), 'tcp', String(await freePort()), String(iperfPort)], { readyLine: true }) },
      ...(has('haproxy')
        ? [
            { name: 'haproxy tcp', start: async () => startHaproxy(dir, 'tcp', await freePort(), iperfPort) },
            { name: 'haproxy tcp splice', start: () => startHaproxySplice(ctx, iperfPort) },
          ]
        : []),
      ...tunings.map((t) => ({ name: t.name, tuning: t.tuning, start: () => startSplice(ctx, iperfPort, t.tuning) })),
    ];
    if (!has('haproxy')) skipped.push('haproxy subjects: haproxy is not installed');
    // --only REGEX keeps direct and engines.tcp (the ratios need them) plus the subjects it matches.
    if (args.only) {
      const re = new RegExp(args.only);
      for (let i = subjects.length - 1; i >= 0; i--) {
        if (!['direct', 'engines.tcp'].includes(subjects[i].name) && !re.test(subjects[i].name)) subjects.splice(i, 1);
      }
    }
    console.log(`splice bench: ${cpus().length} cpus, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${runs} interleaved runs of iperf3 -t${duration} -P${args.parallel}${args.reverse ? ' -R' : ''}`);
    const live = [];
    for (const s of subjects) {
      try {
        const h = await s.start();
        started.push(h);
        live.push({ ...s, port: h.port, pid: h.child?.pid, samples: [], ticksPerGB: [] });
      } catch (err) {
        skipped.push(`${s.name}: failed to start: ${err.message.split('\n')[0]}`);
      }
    }
    for (const l of live) await iperf(l.port, 1);
    for (let r = 0; r < runs; r++) {
      for (const l of live) {
        const before = l.pid ? cpuTicks(l.pid) : NaN;
        const g = await iperf(l.port, duration);
        // The proxy's own CPU per GB moved: less sensitive to a busy machine than the throughput.
        const perGB = (cpuTicks(l.pid) - before) / ((g * duration) / 8);
        l.samples.push(g);
        l.ticksPerGB.push(perGB);
        process.stderr.write(`  run ${r + 1}/${runs} ${l.name.padEnd(50)} ${g.toFixed(2)} Gbit/s${Number.isFinite(perGB) ? `, ${perGB.toFixed(1)} CPU ticks/GB` : ''}\n`);
      }
    }
    const value = (name) => median(live.find((l) => l.name === name)?.samples ?? []);
    const direct = value('direct');
    const tcp = value('engines.tcp');
    const rows = live.map((l) => ({ subject: l.name, gbps: median(l.samples), vsDirect: median(l.samples) / direct, vsTcp: median(l.samples) / tcp, ticksPerGB: median(l.ticksPerGB), samples: l.samples, tuning: l.tuning }));
    const w = Math.max(...rows.map((r) => r.subject.length));
    const num = (x, d, width) => (Number.isFinite(x) ? x.toFixed(d) : '-').padStart(width);
    console.log(`\n${'subject'.padEnd(w)}  Gbit/s  x direct  x engines.tcp  ticks/GB  samples (Gbit/s)`);
    for (const r of rows) {
      console.log(`${r.subject.padEnd(w)}  ${num(r.gbps, 2, 6)}  ${num(r.vsDirect, 2, 8)}  ${num(r.vsTcp, 2, 13)}  ${num(r.ticksPerGB, 1, 8)}  ${r.samples.map((x) => x.toFixed(2)).join(' ')}`);
    }
    for (const s of skipped) console.log(`skipped: ${s}`);
    console.log(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    if (args.json) writeFileSync(args.json, JSON.stringify({ at: new Date().toISOString(), cpus: cpus().length, runs, duration, rows, skipped }, null, 2));
  } finally {
    await Promise.allSettled(started.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
