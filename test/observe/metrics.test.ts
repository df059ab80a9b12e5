// Metrics through the real daemon: /metrics on the control socket and on its own listener, parsed;
// promtool check metrics when Debian's prometheus package is installed; StatsD on a real UDP socket;
// and the event stream through the real gracevisorctl.
import t from 'tap';
import http from 'node:http';
import dgram from 'node:dgram';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ensureBuild, freePort, GRACEVISORCTL, TestDaemon, waitFor } from '../cli/harness.js';

t.before(() => ensureBuild());

/** GET `path` over a unix socket or TCP; the body. */
function get(where: { socketPath: string } | { host: string; port: number }, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...where, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The samples of a Prometheus text exposition: name, labels, value. Throws on a line it cannot read. */
function parse(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const DEMO = { name: 'web' };

t.test('/metrics on the control socket and on its own listener, with per-app, per-instance and http counters', async (t) => {
  const d = await TestDaemon.create(t);
  const appPort = await freePort();
  const metricsPort = await freePort();
  await d.writeConfig([{ ...DEMO, port: appPort }], ['metrics:', `  listen: 127.0.0.1:${metricsPort}`].join('\n'));
  await d.start();
  for (let i = 0; i < 6; i++) await get({ host: '127.0.0.1', port: appPort }, '/');
  t.equal((await d.ctl('restart', 'web')).code, 0);
  const viaSocket = await get({ socketPath: d.socket }, '/v1/metrics');
  t.equal(viaSocket.status, 200);
  t.match(viaSocket.type, /^text\/plain; version=0\.0\.4/);
  const viaTcp = await get({ host: '127.0.0.1', port: metricsPort }, '/metrics');
  t.equal(viaTcp.status, 200, 'no token needed on the metrics listener without metrics.token');
  const s = parse(viaTcp.body);
  const one = (name: string, labels: Record<string, string> = {}): number | undefined => s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
  t.equal(one('gracevisor_restarts_total', { app: 'web', result: 'succeeded' }), 1);
  t.equal(one('gracevisor_http_responses_total', { app: 'web', code_class: '2xx' }), 6);
  t.equal(one('gracevisor_http_responses_total', { app: 'web', code_class: '5xx' }), 0);
  t.equal(one('gracevisor_http_request_duration_seconds_count', { app: 'web' }), 6);
  t.equal(one('gracevisor_http_request_duration_seconds_bucket', { app: 'web', le: '+Inf' }), 6);
  t.equal(one('gracevisor_app_state', { app: 'web', state: 'running' }), 1);
  const up = s.filter((x) => x.name === 'gracevisor_instance_up' && x.labels.app === 'web');
  t.same(up.map((x) => x.value), [1], 'one serving instance');
  t.ok((one('gracevisor_instance_resident_memory_bytes', { app: 'web' }) ?? 0) > 1_000_000, 'the instance\'s RSS from /proc');
  t.ok(one('process_resident_memory_bytes')! > 0, 'the daemon\'s own process metrics');
  t.ok((one('gracevisor_switch_latency_seconds_count', { app: 'web' }) ?? 0) >= 2, 'switch latency observed at start and restart');
  const promtool = spawnSync('promtool', ['--version']);
  if (promtool.error) {
    t.comment('promtool is not installed (Debian package prometheus): the exposition check is skipped');
  } else {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: viaTcp.body, encoding: 'utf8' });
    t.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  }
});

t.test('the metrics listener asks for metrics.token when one is set, and answers only GET /metrics', async (t) => {
  const d = await TestDaemon.create(t);
  const metricsPort = await freePort();
  await d.writeConfig([{ ...DEMO, port: await freePort() }], ['metrics:', `  listen: 127.0.0.1:${metricsPort}`, '  token: scrape-me'].join('\n'));
  await d.start();
  const where = { host: '127.0.0.1', port: metricsPort };
  t.equal((await get(where, '/metrics')).status, 401);
  t.equal((await get(where, '/metrics', { authorization: 'Bearer wrong' })).status, 401);
  t.equal((await get(where, '/metrics', { authorization: 'Bearer scrape-me' })).status, 200);
  t.equal((await get(where, '/v1/status', { authorization: 'Bearer scrape-me' })).status, 404, 'nothing of the control API');
});

t.test('StatsD gets the counters and timings on a real UDP socket; a StatsD that is down costs nothing', async (t) => {
  const udp = dgram.createSocket('udp4');
  const packets: string[] = [];
  udp.on('message', (m) => packets.push(...m.toString().split('\n')));
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  let open = true;
  t.teardown(() => { if (open) udp.close(); });
  const d = await TestDaemon.create(t);
  const appPort = await freePort();
  await d.writeConfig([{ ...DEMO, port: appPort }], ['metrics:', '  statsd:', '    host: 127.0.0.1', `    port: ${(udp.address() as AddressInfo).port}`, '    prefix: gvtest.', '    interval: 200ms'].join('\n'));
  await d.start();
  for (let i = 0; i < 3; i++) await get({ host: '127.0.0.1', port: appPort }, '/');
  t.equal((await d.ctl('restart', 'web')).code, 0);
  t.ok(await waitFor(() => packets.some((p) => p.startsWith('gvtest.apps.web.requests:') && p.endsWith('|c'))), 'request counts');
  t.ok(await waitFor(() => packets.some((p) => /^gvtest\.apps\.web\.restart_duration:\d+(\.\d+)?\|ms$/.test(p))), 'restart timing');
  t.ok(packets.some((p) => p.startsWith('gvtest.apps.web.connections:') && p.endsWith('|g')), 'gauges');
  t.ok(packets.some((p) => p.startsWith('gvtest.apps.web.restarts.succeeded:1|c')), 'the restart counted');
  // Now point it at a port nobody reads: the daemon goes on as before.
  udp.close();
  open = false;
  await new Promise((r) => setTimeout(r, 500));
  t.equal((await d.ctl('restart', 'web')).code, 0, 'a restart with StatsD gone');
  t.equal(d.child!.exitCode, null);
});

t.test('gracevisorctl events -f shows a restart\'s events in order', async (t) => {
  const d = await TestDaemon.create(t);
  await d.writeConfig([{ ...DEMO, port: await freePort() }]);
  await d.start();
  const follower = spawn(process.execPath, [GRACEVISORCTL, '--socket', d.socket, 'events', 'web', '-f', '-n', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (follower.exitCode === null) follower.kill('SIGKILL'); });
  let out = '';
  follower.stdout.on('data', (c) => (out += c));
  // The stream is open once the daemon has the request: a first event proves it, so wait for a probe one.
  t.ok(await waitFor(async () => (await d.ctl('status')).code === 0), 'daemon up');
  await new Promise((r) => setTimeout(r, 300));
  const r = await d.ctl('restart', 'web');
  t.equal(r.code, 0, r.stderr);
  t.ok(await waitFor(() => out.includes('"restart_succeeded"')), 'the restart arrived');
  const events = out.trim().split('\n').map((l) => JSON.parse(l));
  const names = events.map((e: any) => (e.event === 'instance_state' ? `${e.instance}:${e.to}` : e.event));
  const order = ['restart_started', ':starting', ':serving', 'switched', ':draining', 'drained', ':stopping', 'restart_succeeded'];
  let at = 0;
  for (const want of order) {
    const i = names.findIndex((n: string, k: number) => k >= at && n.endsWith(want));
    t.ok(i >= 0, `${want} after the previous step`);
    if (i >= 0) at = i + 1;
  }
  t.ok(events.every((e: any, i: number) => i === 0 || e.seq > events[i - 1].seq), 'seq grows');
  const listed = await d.ctl('events', 'web', '-n', '50');
  t.equal(listed.code, 0);
  t.match(listed.stdout, /web\s+web#\d+\s+instance_state starting -> serving/);
});

t.test('the event stream and alerts config are checked: unknown alert type, bad options, typo in events', async (t) => {
  const d = await TestDaemon.create(t);
  const conf = join(d.dir, 'bad.conf');
  writeFileSync(conf, ['alert webhok { url http://x; }', 'alert webhook { url ftp://x; }', 'alert log { events restart_faild; }', 'app a { command "a {port}"; listen 9; alert exec { } }', ''].join('\n'));
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'dist', 'cli', 'gracevisord.js'), '--conf', conf, '--check'], { encoding: 'utf8' });
  t.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n').map((l) => /:(\d+):(\d+): (GV_ERR_[A-Z_]+):/.exec(l)?.slice(1, 4));
  t.same(lines, [
    ['1', '7', 'GV_ERR_CONFIG_ALERT'],
    ['2', '21', 'GV_ERR_CONFIG_ALERT'],
    ['3', '20', 'GV_ERR_CONFIG_RANGE'],
    ['4', '45', 'GV_ERR_CONFIG_ALERT'],
  ]);
  t.match(r.stderr, /did you mean "webhook"/);
});
