// Items 7, 8 and 9 of the reliability issue: nothing waits for ever. A probe that never settles, an
// instance that never becomes ready at shutdown, an upstream that never answers.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { alive, Daemon, events, fdCount, FIXTURES, NODE_BARE, port, ROOT, setup, sleep, until } from './fixtures/lib.js';

setup(t);

const BEHAVE = join(ROOT, 'test', 'fixtures', 'apps', 'behave.mjs');
const HANG_CHECK = join(FIXTURES, 'hang-check.mjs');

t.test('a readiness probe that never settles fails the start (start_timeout 2s) instead of leaving the instance starting', async (t) => {
  const d = Daemon.create(t);
  const hang = join(d.dir, 'hang');
  writeFileSync(hang, 'all\n');
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + `plugins: [${JSON.stringify(HANG_CHECK)}]\n` + 'apps:\n' + [
    '  - name: web',
    `    command: ${NODE_BARE} ${BEHAVE} --port={port}`,
    `    healthcheck: { type: hang, hang_file: ${JSON.stringify(hang)} }`,
    '    external_host: 127.0.0.1',
    `    external_port: ${await port()}`,
    '    start_timeout: 2s',
    '    max_retries: 1',
    '    stop_timeout: 2s',
  ].join('\n') + '\n');
  const t0 = Date.now();
  await d.start(conf);
  t.ok(await until(() => events(d.output, 'restart_failed').length > 0, 30_000), 'the start failed within 30 s (event=restart_failed)');
  const failed = events(d.output, 'restart_failed')[0];
  t.comment(`first failed start after ${Date.now() - t0} ms: code=${failed?.fields.code}`);
  t.ok(['GV_ERR_HEALTHCHECK_FAILED', 'GV_ERR_START_TIMEOUT'].includes(failed?.fields.code ?? ''), `code is GV_ERR_HEALTHCHECK_FAILED or GV_ERR_START_TIMEOUT (saw ${failed?.fields.code})`);
  // The failed instance is not left `starting`: its process is stopped.
  const firstPid = [...d.seen][0];
  if (firstPid) t.ok(await until(() => !alive(firstPid), 15_000), `the failed instance ${firstPid} was stopped`);
  // With max_retries 1 the app gives up: no instance stays starting for ever.
  t.ok(await until(() => events(d.output, 'app_fatal').length > 0, 60_000), 'after max_retries the app is fatal (event=app_fatal)');
  const [app] = await d.status('web');
  t.equal(app.state, 'fatal', 'the app state is fatal');
  t.notOk(app.instances.some((i: any) => i.state === 'starting'), 'no instance is left starting');
});

t.test('a liveness probe that starts hanging after the instance serves makes it unhealthy, and it is replaced', async (t) => {
  const d = Daemon.create(t);
  const hang = join(d.dir, 'hang');
  const p = await port();
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + `plugins: [${JSON.stringify(HANG_CHECK)}]\n` + 'apps:\n' + [
    '  - name: web',
    `    command: ${NODE_BARE} ${BEHAVE} --port={port}`,
    `    healthcheck: { type: hang, hang_file: ${JSON.stringify(hang)}, interval: 300ms, timeout: 300ms, unhealthy_threshold: 2 }`,
    '    external_host: 127.0.0.1',
    `    external_port: ${p}`,
    '    start_timeout: 10s',
    '    stop_timeout: 2s',
    '    drain_timeout: 2s',
  ].join('\n') + '\n');
  await d.start(conf);
  const [pid] = await d.waitServing('web');
  const [app] = await d.status('web');
  const inst = app.instances.find((i: any) => i.pid === pid);
  // From now on the probe of this instance's port never settles; a replacement's port is another.
  writeFileSync(hang, `${inst.port}\n`);
  const t0 = Date.now();
  t.ok(await until(() => events(d.output, 'unhealthy').length > 0, 30_000), 'event=unhealthy within 30 s');
  t.comment(`unhealthy after ${Date.now() - t0} ms (interval 300ms, timeout 300ms, threshold 2)`);
  t.equal(events(d.output, 'unhealthy')[0]?.fields.instance, inst.id, 'for the hanging instance');
  let now: number[] = [];
  t.ok(await until(async () => {
    now = await d.serving('web').catch(() => []);
    return now.length === 1 && now[0] !== pid;
  }, 30_000, 100), 'a replacement serves');
  t.ok(await until(() => !alive(pid!), 15_000), 'the hanging instance was stopped');
});

t.test('SIGTERM while an instance is stuck starting (no start_timeout): the daemon exits 0 within 20 s and the instance is gone', async (t) => {
  const d = Daemon.create(t);
  const mode = join(d.dir, 'mode');
  writeFileSync(mode, 'hang\n'); // behave.mjs never listens
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + [
    '  - name: stuck',
    `    command: ${NODE_BARE} ${BEHAVE} --port={port}`,
    `    environment: ["GV_MODE_FILE=${mode}"]`,
    '    external_host: 127.0.0.1',
    `    external_port: ${await port()}`,
    '    stop_timeout: 5s',
  ].join('\n') + '\n');
  await d.start(conf);
  let pid: number | undefined;
  // The control API answers before the apps are added (GV_ERR_APP_NOT_FOUND until then).
  t.ok(await until(async () => {
    const [a] = await d.status('stuck').catch(() => [null]);
    pid = a?.instances.find((i: any) => i.state === 'starting')?.pid;
    return !!pid;
  }, 15_000, 100), 'the instance is starting');
  await sleep(1000);
  const [a] = await d.status('stuck');
  t.equal(a.instances.find((i: any) => i.pid === pid)?.state, 'starting', 'and stays starting (it never listens)');
  const e = await d.stop('SIGTERM', 20_000);
  t.ok(e, 'the daemon exited within 20 s of SIGTERM');
  t.comment(`exit after SIGTERM: ${JSON.stringify(e)}`);
  t.same(e && { code: e.code, signal: e.signal }, { code: 0, signal: null }, 'exit 0');
  t.ok(await until(() => !alive(pid!), 5_000), `the stuck instance ${pid} is gone`);
});

/** GET / on a fresh connection; the status, or the error code. */
function getOnce(p: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: p, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', (e) => resolve(e.message));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
    req.end();
  });
}

t.test('an upstream that never answers: with upstream_timeout 1s, 200 requests get 504 and the daemon\'s descriptors stay bounded', async (t) => {
  const d = Daemon.create(t);
  const p = await port();
  const counter = join(d.dir, 'open');
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + [
    '  - name: hole',
    `    command: ${NODE_BARE} ${join(FIXTURES, 'blackhole.mjs')} --port={port}`,
    `    environment: ["BLACKHOLE_COUNT=${counter}"]`,
    '    external_host: 127.0.0.1',
    `    external_port: ${p}`,
    '    upstream_timeout: 1s',
    '    stop_timeout: 2s',
  ].join('\n') + '\n');
  await d.start(conf);
  await d.waitServing('hole');
  const base = fdCount(d.pid);
  const CONCURRENCY = 40;
  const TOTAL = 200;
  let maxFd = base;
  let sent = 0;
  const statuses: (number | string)[] = [];
  const sampler = setInterval(() => (maxFd = Math.max(maxFd, fdCount(d.pid))), 50);
  const t0 = Date.now();
  const worker = async (): Promise<void> => {
    while (sent < TOTAL && Date.now() - t0 < 120_000) {
      sent++;
      statuses.push(await getOnce(p));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearInterval(sampler);
  const ms = Date.now() - t0;
  const counts = statuses.reduce<Record<string, number>>((m, s) => ((m[String(s)] = (m[String(s)] ?? 0) + 1), m), {});
  t.comment(`${statuses.length} requests, ${CONCURRENCY} at a time, in ${ms} ms: ${JSON.stringify(counts)}; daemon fds: baseline ${base}, peak ${maxFd}`);
  t.equal(statuses.length, TOTAL, 'every request was sent');
  t.equal(counts['504'], TOTAL, 'every one got 504');
  // In flight at once: a client socket and an upstream socket per request, plus slack.
  t.ok(maxFd <= base + 2 * CONCURRENCY + 30, `the daemon's fd count stayed bounded (peak ${maxFd}, baseline ${base})`);
  let after = -1;
  t.ok(await until(() => (after = fdCount(d.pid)) <= base + 5, 15_000, 100), `and returned near its baseline (${after} vs ${base})`);
  await sleep(500);
  const held = readCount(counter);
  t.comment(`connections the app still holds open: ${held}`);
  t.ok(held >= 0 && held <= 5, 'the upstream connections of timed-out requests were closed, not left open at the app');
});

/** The blackhole app's count of open connections (-1 when unreadable). */
function readCount(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8'));
  } catch {
    return -1;
  }
}
