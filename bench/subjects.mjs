// What the benchmark measures, as a list run.mjs walks. A subject starts something that listens on
// a loopback port and forwards to the shared backend (or is the backend itself: "direct").
//
//   { name, group: 'http' | 'tcp', needs: ['nginx'], reference: true?, start(ctx) -> { port, stop() } }
//
// ctx: { dir (a throwaway folder), httpBackendPort, iperfPort, root (the repository) }.
// `reference: true` marks the subject the others are compared with in their group (nginx for http,
// haproxy in tcp mode for tcp). Other files may append subjects: run.mjs imports
// bench/splice-subjects.mjs when it exists and adds its `subjects` export to this list.
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { join } from 'node:path';
import { freePort, startCaddy, startHaproxy, startNginx, startProcess } from './lib.mjs';

/** Start one of our engines from dist/ in its own process (`options`: more engine options, e.g. the plane's threads). */
export async function startEngine(ctx, engine, targetPort, options) {
  return startProcess(process.execPath, [join(ctx.root, 'bench', 'engine-proxy.mjs'), engine, String(await freePort()), String(targetPort), ...(options ? [JSON.stringify(options)] : [])], { readyLine: true });
}

/** Whether engines.http is the native data plane here (its addon built), for the subject's name. */
const nativeHttp = existsSync(fileURLToPath(new URL('../native/build/Release/gracevisor_http.node', import.meta.url)));

/**
 * The whole daemon (the holder, its daemon, the http engine) with one app: the same backend as the
 * others (bench/backend.mjs), started by the daemon on its internal port. `metrics`: a metrics
 * listener scraped every second and StatsD pushed every second to a UDP socket here (what issue 11
 * asks to cost under 5%); without it, no metrics listener and no StatsD (the engine's counters, which
 * `status` shows, are always kept).
 */
async function startDaemon(ctx, metrics) {
  const tag = metrics ? 'on' : 'off';
  const dir = join(ctx.dir, `daemon-metrics-${tag}`);
  const port = await freePort();
  const from = 44000 + Math.floor(Math.random() * 100) * 10 + (metrics ? 5 : 0);
  const statsd = metrics ? createSocket('udp4') : null;
  let datagrams = 0;
  if (statsd) {
    statsd.on('message', () => datagrams++);
    await new Promise((r) => statsd.bind(0, '127.0.0.1', r));
  }
  const scrapePort = metrics ? await freePort() : null;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'gracevisor.yaml'), [
    `run_dir: ${dir}/run`,
    `port_range: { from: ${from}, to: ${from + 4} }`,
    `logger: { log_dir: ${dir}/log }`,
    ...(metrics ? [`metrics: { listen: 127.0.0.1:${scrapePort}, statsd: { host: 127.0.0.1, port: ${statsd.address().port}, interval: 1s } }`] : []),
    'apps:',
    '  - name: bench',
    `    command: ${process.execPath} ${join(ctx.root, 'bench', 'backend.mjs')} {port}`,
    '    external_host: 127.0.0.1',
    `    external_port: ${port}`,
    '',
  ].join('\n'));
  const daemon = await startProcess(process.execPath, [join(ctx.root, 'dist', 'cli', 'gracevisord.js'), '--conf', join(dir, 'gracevisor.yaml')], { port });
  // The app is up once the public port answers 200.
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => request({ host: '127.0.0.1', port, path: '/' }, (res) => { res.resume(); r(res.statusCode === 200); }).on('error', () => r(false)).end());
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  let scrapes = 0;
  const scraper = metrics ? setInterval(() => {
    request({ host: '127.0.0.1', port: scrapePort, path: '/metrics' }, (res) => { res.resume(); if (res.statusCode === 200) scrapes++; }).on('error', () => {}).end();
  }, 1000) : null;
  return {
    port,
    child: daemon.child,
    stop: async () => {
      if (scraper) clearInterval(scraper);
      statsd?.close();
      if (metrics && (scrapes === 0 || datagrams === 0)) process.stderr.write(`bench: the metrics-on daemon was scraped ${scrapes} times and sent ${datagrams} StatsD datagrams\n`);
      await daemon.stop();
    },
  };
}

/** The built-in subjects. */
export const subjects = [
  { name: 'direct', group: 'http', needs: [], direct: true, start: async (ctx) => ({ port: ctx.httpBackendPort, stop: async () => {} }) },
  { name: nativeHttp ? 'engines.http (native)' : 'engines.http (JS: no native addon)', group: 'http', needs: [], start: (ctx) => startEngine(ctx, 'http', ctx.httpBackendPort) },
  ...(nativeHttp ? [{ name: 'engines.http (native, 2 threads)', group: 'http', needs: [], start: (ctx) => startEngine(ctx, 'http', ctx.httpBackendPort, { plane: { threads: 2 } }) }] : []),
  { name: 'engines.http_js', group: 'http', needs: [], start: (ctx) => startEngine(ctx, 'http_js', ctx.httpBackendPort) },
  { name: 'gracevisord, metrics off', group: 'http', needs: [], start: (ctx) => startDaemon(ctx, false) },
  { name: 'gracevisord, metrics on (scraped 1/s, StatsD 1/s)', group: 'http', needs: [], start: (ctx) => startDaemon(ctx, true) },
  { name: 'nginx proxy', group: 'http', needs: ['nginx'], reference: true, start: async (ctx) => startNginx(ctx.dir, await freePort(), ctx.httpBackendPort) },
  { name: 'haproxy http', group: 'http', needs: ['haproxy'], start: async (ctx) => startHaproxy(ctx.dir, 'http', await freePort(), ctx.httpBackendPort) },
  { name: 'caddy reverse_proxy (GOMAXPROCS=1)', group: 'http', needs: ['caddy'], start: async (ctx) => startCaddy(ctx.dir, await freePort(), ctx.httpBackendPort) },

  { name: 'direct', group: 'tcp', needs: [], direct: true, start: async (ctx) => ({ port: ctx.iperfPort, stop: async () => {} }) },
  { name: 'engines.tcp', group: 'tcp', needs: [], start: (ctx) => startEngine(ctx, 'tcp', ctx.iperfPort) },
  { name: 'haproxy tcp', group: 'tcp', needs: ['haproxy'], reference: true, start: async (ctx) => startHaproxy(ctx.dir, 'tcp', await freePort(), ctx.iperfPort) },
];
