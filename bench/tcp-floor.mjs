#!/usr/bin/env node
// How much engines.tcp costs over the floor of a Node TCP proxy (bench/bare-pipe-proxy.mjs):
// iperf3 moves a fixed amount through each, interleaved, and the proxy's own CPU time (user + system,
// from /proc/PID/stat) per GB is reported beside the throughput. CPU per GB moves far less than
// throughput with whatever else the machine is doing.
// Usage: node bench/tcp-floor.mjs [--runs 5] [--gigabytes 8]     (needs iperf3 and `npm run build`)
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, has, startProcess } from './lib.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const runs = arg('runs', 5);
const gigabytes = arg('gigabytes', 8);
if (!has('iperf3')) {
  console.error('iperf3 is not installed (apt-get install -y iperf3)');
  process.exit(2);
}
const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const cpuTicks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, after the command name
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const iperfPort = await freePort();
const server = await startProcess('iperf3', ['-s', '-p', String(iperfPort)], { port: iperfPort });
const subjects = [
  { name: 'bare socket.pipe()', proc: await startProcess(process.execPath, [here('bare-pipe-proxy.mjs'), '0', String(iperfPort)], { readyLine: true }) },
  { name: 'engines.tcp', proc: await startProcess(process.execPath, [here('engine-proxy.mjs'), 'tcp', '0', String(iperfPort)], { readyLine: true }) },
];
for (const s of subjects) s.samples = [];
try {
  for (let r = 0; r < runs; r++) {
    // Alternate the order so neither subject always runs first.
    for (const s of r % 2 ? [...subjects].reverse() : subjects) {
      const before = cpuTicks(s.proc.child.pid);
      const out = spawnSync('iperf3', ['-c', '127.0.0.1', '-p', String(s.proc.port), '-n', `${gigabytes}G`, '-J'], { encoding: 'utf8' });
      const ticks = cpuTicks(s.proc.child.pid) - before;
      const gbits = JSON.parse(out.stdout).end.sum_received.bits_per_second / 1e9;
      s.samples.push({ gbits, ticksPerGB: ticks / gigabytes });
      console.log(`  run ${r + 1}/${runs} ${s.name.padEnd(20)} ${gbits.toFixed(2)} Gbit/s  ${(ticks / gigabytes).toFixed(1)} ticks/GB`);
    }
  }
  console.log(`\nmedians of ${runs} runs, ${gigabytes} GB each:`);
  const floor = median(subjects[0].samples.map((x) => x.ticksPerGB));
  for (const s of subjects) {
    const t = median(s.samples.map((x) => x.ticksPerGB));
    console.log(`  ${s.name.padEnd(20)} ${median(s.samples.map((x) => x.gbits)).toFixed(2)} Gbit/s  ${t.toFixed(1)} ticks/GB  (${(t / floor).toFixed(2)}x the floor's CPU)`);
  }
} finally {
  for (const s of subjects) await s.proc.stop();
  await server.stop();
}
