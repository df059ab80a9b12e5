// The restartable daemon (docs/architecture.md "Restartable daemon"): gracevisord is a holder that
// keeps the listening sockets and the apps' output pipes, and the daemon (the worker) beside it.
// Upgrades under load, a broken upgrade, a crash of the worker (SIGKILL, a plugin's process.exit),
// and SIGKILLs in the middle of a handover, all through the real binaries.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { KeepAliveLoad, get, once, type LoadSample } from '../helpers/load.js';
import { portFree } from '../helpers/ports.js';
import { track } from '../helpers/registry.js';
import { sleep } from '../helpers/wait.js';
import { alive, daemonProcesses, ensureBuild, freePort, NODE_BARE, ROOT, TestDaemon, waitFor, type TestApp } from './harness.js';

ensureBuild();
t.beforeEach((t) => t.setTimeout(300_000));

const WS_APP = join(ROOT, 'test', 'fixtures', 'apps', 'ws-app.mjs');

/** One app "web" (the WebSocket app: /slow, /?log=TAG prints a line, echo over WebSocket). */
async function webApp(): Promise<TestApp> {
  return { name: 'web', port: await freePort(), command: `${NODE_BARE} ${WS_APP} --port={port}`, drainTimeout: '10s', stopTimeout: '10s' };
}

/** The pid of the daemon (the worker) serving the control API now. */
async function workerPid(d: TestDaemon): Promise<number> {
  const r = await d.ctl('version', '--json');
  if (r.code !== 0) throw new Error(`version failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { gracevisord: { pid: number } }).gracevisord.pid;
}

/** Open a WebSocket to the app's public port. */
function wsOpen(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Send `msg`; resolves with the echo ("<pid>:<msg>"), or an error text. */
function wsEcho(ws: WebSocket, msg: string): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('error: no echo within 15 s'), 15_000);
    ws.once('message', (m) => {
      clearTimeout(timer);
      resolve(m.toString());
    });
    ws.once('close', () => {
      clearTimeout(timer);
      resolve('error: closed');
    });
    ws.send(msg);
  });
}

/** Open descriptors of `pid`. */
function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Requests that each print one line "line <n> <pid>" in the app's stdout, one after the other. */
class LogWriter {
  sent = 0;
  failed = 0;
  /** Requests that failed (reset at a crash): the app may or may not have seen them. */
  readonly failedIds = new Set<number>();
  #running = true;
  readonly #done: Promise<void>;
  constructor(port: number) {
    this.#done = (async () => {
      for (let i = 0; i < 100_000 && this.#running; i++) {
        const s = await once(0, undefined, { port, path: `/?log=${i}` });
        if (s.status === 200) this.sent = i + 1;
        else {
          this.failed++;
          this.failedIds.add(i);
        }
        await sleep(20);
      }
    })();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

/**
 * Every "line N" the app wrote to its stdout log must be there, whole and once, for N < sent. A
 * request that failed (reset at a crash) may never have reached the app: its line may be missing.
 * `mayLose`: lines a crash may lose besides — what the killed daemon had read from the pipe but not
 * yet written to the file (README: "What a crash costs"); an upgrade may lose none.
 */
function checkLogLines(t: Tap.Test, d: TestDaemon, sent: number, failed: ReadonlySet<number> = new Set(), mayLose = 0): void {
  const text = readFileSync(join(d.logDir, 'app_web.out'), 'utf8');
  const seen = new Map<number, number>();
  let cut = 0;
  for (const line of text.split('\n')) {
    if (!line.includes(' line ')) continue;
    const m = / out line (\d+) \d+$/.exec(line);
    if (!m) {
      cut++;
      continue;
    }
    seen.set(Number(m[1]), (seen.get(Number(m[1])) ?? 0) + 1);
  }
  const doubled: number[] = [];
  const lost: number[] = [];
  for (let i = 0; i < sent; i++) {
    const n = seen.get(i) ?? 0;
    if (n > 1) doubled.push(i);
    else if (n === 0 && !failed.has(i)) lost.push(i);
  }
  if (failed.size > 0) t.comment(`logged requests reset at a crash: ${[...failed].join(', ')} (in the log: ${[...failed].map((i) => seen.get(i) ?? 0).join(', ')})`);
  if (lost.length > 0) t.comment(`app log lines lost: ${lost.join(', ')} of ${sent}`);
  t.equal(cut, 0, 'no app log line is cut');
  t.same(doubled, [], 'no app log line is written twice');
  t.ok(lost.length <= mayLose, `of ${sent} app log lines, ${lost.length} lost (at most ${mayLose})`);
}

/**
 * A daemon killed outright takes the client connections it held with it: a request in flight on one
 * is reset. That is all a crash may cost: every failure is a reset of a connection open at a crash
 * (the request started before the new daemon served), at most one per client per crash.
 */
function onlyCrashResets(t: Tap.Test, failures: LoadSample[], crashes: { at: number; until: number }[], clients: number): void {
  const stray = failures.filter((f) => !(f.error !== null && /ECONNRESET|EPIPE|socket hang up/.test(f.error) && crashes.some((c) => f.start <= c.until && f.end >= c.at - 50)));
  t.same(stray, [], 'every failed request is a connection reset at a crash');
  t.ok(failures.length <= clients * crashes.length, `at most one reset per client per crash (${failures.length} for ${clients} clients, ${crashes.length} crashes)`);
}

t.test('10 upgrades under keep-alive load, a slow request and a WebSocket open each time: 0 failed, the same app pid, a new daemon pid each time', async (t) => {
  const d = await TestDaemon.create(t);
  const app = await webApp();
  await d.writeConfig([app]);
  await d.start();
  const holder = d.child!.pid!;
  const [appPid] = await d.servingPids('web');
  let worker = await workerPid(d);
  t.not(worker, holder, 'the daemon runs beside its holder');
  const fdsBefore = fds(holder);

  const load = new KeepAliveLoad({ port: app.port, clients: 4, maxMs: 240_000 });
  load.start();
  const logs = new LogWriter(app.port);
  const workers = new Set<number>([worker]);
  for (let i = 0; i < 10; i++) {
    const ws = await wsOpen(app.port);
    t.match(await wsEcho(ws, `before ${i}`), new RegExp(`^${appPid}:before ${i}$`), `upgrade ${i + 1}: the WebSocket echoes before`);
    const slow = once(0, undefined, { port: app.port, path: '/slow?ms=700' });
    await sleep(100);
    const r = await d.ctl('upgrade', '--json');
    t.equal(r.code, 0, `upgrade ${i + 1} exits 0 ${r.stderr}`);
    const u = JSON.parse(r.stdout) as { from: { pid: number }; to: { pid: number }; durationMs: number };
    t.equal(u.from.pid, worker, `upgrade ${i + 1}: from the daemon that served`);
    t.notOk(workers.has(u.to.pid), `upgrade ${i + 1}: to a new daemon pid (${u.to.pid})`);
    worker = u.to.pid;
    workers.add(worker);
    t.match(await wsEcho(ws, `after ${i}`), new RegExp(`^${appPid}:after ${i}$`), `upgrade ${i + 1}: the WebSocket opened before it still echoes`);
    ws.close();
    const s = await slow;
    t.equal(s.status, 200, `upgrade ${i + 1}: the slow request finishes with 200 (${s.error ?? ''})`);
    t.same(await d.servingPids('web'), [appPid], `upgrade ${i + 1}: the same app instance serves`);
  }
  await load.stop();
  await logs.stop();
  const failures = load.failures();
  t.comment(`${load.count} requests through 10 upgrades, ${failures.length} failed`);
  t.equal(failures.length, 0, `0 failed requests (${JSON.stringify(failures.slice(0, 3))})`);
  t.equal(logs.failed, 0, 'every logged request answered');
  t.ok(await waitFor(() => daemonProcesses(d.dir).length === 2, 30_000), `the old daemons exited: holder and one daemon remain (${daemonProcesses(d.dir).join(', ')})`);
  t.same(daemonProcesses(d.dir), [holder, worker].sort((a, b) => a - b), 'the holder and the last daemon');
  const fdsAfter = fds(holder);
  t.comment(`holder fds: ${fdsBefore} before, ${fdsAfter} after`);
  t.ok(fdsAfter <= fdsBefore + 2, `the holder's open fds stay flat (${fdsBefore} -> ${fdsAfter})`);
  t.equal(d.events('upgrade_done').length, 10, 'ten upgrade_done lines in the log');
  // The stdout pipe is read by one daemon at a time; give the last lines a moment to reach the file.
  await waitFor(() => readFileSync(join(d.logDir, 'app_web.out'), 'utf8').includes(` line ${logs.sent - 1} `), 10_000);
  checkLogLines(t, d, logs.sent);

  d.child!.kill('SIGTERM');
  t.same(await d.exited(), { code: 0, signal: null }, 'SIGTERM to gracevisord stops it with 0');
  t.notOk(alive(appPid!), 'and the app with it');
  t.same(daemonProcesses(d.dir), [], 'no daemon process is left');
});

t.test('an upgrade to a broken config, or to a daemon that crashes on its way in, exits 1 with the error; the running daemon keeps serving', async (t) => {
  const d = await TestDaemon.create(t);
  const app = await webApp();
  const marker = join(d.dir, 'crash-now');
  const plugin = join(d.dir, 'crash-plugin.mjs');
  // Exits its daemon as the apps start when the marker exists: a takeover that dies half-way.
  await writeFile(plugin, `import { existsSync } from 'node:fs';\nexport default { name: 'test-crash', apiVersion: 1, hooks: { onAppAdded() { if (existsSync(${JSON.stringify(marker)})) process.exit(7); } } };\n`);
  await d.writeConfig([app], `plugins: [${plugin}]`);
  await d.start();
  const [appPid] = await d.servingPids('web');
  const worker = await workerPid(d);
  const load = new KeepAliveLoad({ port: app.port, clients: 4, maxMs: 120_000 });
  load.start();

  const good = readFileSync(d.confFile, 'utf8');
  await writeFile(d.confFile, good.replace('apps:', 'apps:\n  - name: [broken'));
  const r = await d.ctl('upgrade');
  t.equal(r.code, 1, 'upgrade to a broken config exits 1');
  t.match(r.stderr, /GV_ERR_UPGRADE_FAILED/, 'GV_ERR_UPGRADE_FAILED');
  t.match(r.stderr, /GV_ERR_CONFIG_\w+/, `with the new daemon's config error: ${r.stderr.trim()}`);
  t.equal(await workerPid(d), worker, 'the same daemon serves');

  await writeFile(d.confFile, good);
  await writeFile(marker, '');
  const r2 = await d.ctl('upgrade');
  t.equal(r2.code, 1, `an upgrade whose daemon crashes during the takeover exits 1: ${r2.stderr.trim()}`);
  t.match(r2.stderr, /GV_ERR_UPGRADE_FAILED/, 'GV_ERR_UPGRADE_FAILED');
  t.equal(await workerPid(d), worker, 'the same daemon serves');
  t.same(await d.servingPids('web'), [appPid], 'the same app instance serves');
  await unlink(marker);
  const rs = await d.ctl('restart', 'web');
  t.equal(rs.code, 0, 'the running daemon is not frozen: a restart works');

  // Two upgrades at once: the second is refused.
  const [a, b] = await Promise.all([d.ctl('upgrade', '--json'), sleep(50).then(() => d.ctl('upgrade', '--json'))]);
  t.equal([a.code, b.code].filter((c) => c === 0).length, 1, 'of two upgrades at once one succeeds');
  t.match(a.code === 0 ? b.stderr : a.stderr, /GV_ERR_DAEMON_UPGRADING/, 'the other is refused with GV_ERR_DAEMON_UPGRADING');
  await load.stop();
  t.equal(load.failures().length, 0, `0 failed requests of ${load.count}`);
});

t.test('a crash of the daemon (SIGKILL, a plugin calling process.exit) under load: the apps keep their pids, requests meanwhile succeed, it serves again', async (t) => {
  const d = await TestDaemon.create(t);
  const app = await webApp();
  const marker = join(d.dir, 'exit-now');
  const plugin = join(d.dir, 'exit-plugin.mjs');
  await writeFile(plugin, `import { existsSync, unlinkSync } from 'node:fs';\nexport default { name: 'test-exit', apiVersion: 1, hooks: { onReloadStarted() { if (existsSync(${JSON.stringify(marker)})) { unlinkSync(${JSON.stringify(marker)}); process.exit(3); } } } };\n`);
  await d.writeConfig([app], `plugins: [${plugin}]`);
  await d.start();
  const holder = d.child!.pid!;
  const [appPid] = await d.servingPids('web');
  const load = new KeepAliveLoad({ port: app.port, clients: 4, maxMs: 120_000 });
  load.start();
  const logs = new LogWriter(app.port);
  await sleep(300);

  // SIGKILL: connections arriving meanwhile wait in the listen backlog the holder keeps.
  const first = await workerPid(d);
  const killedAt = Date.now();
  process.kill(first, 'SIGKILL');
  const probes = await Promise.all(Array.from({ length: 8 }, () => get(app.port, '/').then((r) => ({ ...r, at: Date.now() }), (e: Error) => ({ status: 0, body: e.message, pid: null, at: Date.now() }))));
  t.ok(probes.every((p) => p.status === 200 && p.pid === appPid), `requests sent during the gap succeed, from the same instance (${probes.map((p) => p.status).join(',')})`);
  t.ok(await waitFor(async () => (await workerPid(d).catch(() => first)) !== first, 30_000), 'a new daemon serves the control API');
  const resumed = Date.now();
  const servedAgain = Math.max(...probes.map((p) => p.at));
  t.comment(`SIGKILL to serving again: ${servedAgain - killedAt} ms to the last of 8 requests sent at the kill, ${resumed - killedAt} ms to the control API answering`);
  t.ok(servedAgain - killedAt < 10_000, 'the requests sent at the kill were answered (a bound far above the 2 s goal: a slow machine)');
  t.ok(d.events('daemon_recovering').length >= 1, 'the new daemon says it took over from a crashed one');
  t.same(await d.servingPids('web'), [appPid], 'the app kept its pid');

  // A plugin's process.exit, during a reload.
  const second = await workerPid(d);
  await writeFile(marker, '');
  const exitAt = Date.now();
  const r = await d.ctl('reload');
  t.not(r.code, 0, 'the reload whose daemon died reports a failure');
  t.ok(await waitFor(async () => (await workerPid(d).catch(() => second)) !== second, 30_000), 'a new daemon serves after the process.exit');
  const resumed2 = Date.now();
  t.same(await d.servingPids('web'), [appPid], 'the app kept its pid');
  t.equal(d.child!.pid, holder, 'the holder is the same process throughout');

  await load.stop();
  await logs.stop();
  const failures = load.failures();
  t.comment(`${load.count} requests through two crashes, ${failures.length} failed: ${JSON.stringify(failures.map((f) => f.error))}`);
  onlyCrashResets(t, failures, [{ at: killedAt, until: resumed }, { at: exitAt, until: resumed2 }], 4);
  await waitFor(() => readFileSync(join(d.logDir, 'app_web.out'), 'utf8').includes(` line ${logs.sent - 1} `), 10_000);
  t.ok(logs.failed <= 2, `at most one logged request per crash was reset (${logs.failed})`);
  checkLogLines(t, d, logs.sent, logs.failedIds, 2);
  d.child!.kill('SIGTERM');
  t.same(await d.exited(), { code: 0, signal: null }, 'SIGTERM stops it with 0');
  t.notOk(alive(appPid!), 'and the app with it');
});

t.test('SIGKILL of the old daemon in the middle of a handover, and of the new one right after: no orphan, and it serves', async (t) => {
  const d = await TestDaemon.create(t);
  const app = await webApp();
  await d.writeConfig([app]);
  await d.start();
  const [appPid] = await d.servingPids('web');
  const load = new KeepAliveLoad({ port: app.port, clients: 2, maxMs: 120_000 });
  load.start();

  // The old one, once the new one has loaded and the old one is freezing.
  const old = await workerPid(d);
  const up = d.ctl('upgrade');
  await d.waitForEvent('handover_started', {}, 60_000);
  const kill1 = Date.now();
  process.kill(old, 'SIGKILL');
  const r = await up;
  t.comment(`upgrade with the old daemon killed mid-handover: exit ${r.code} ${r.stderr.trim()}`);
  t.ok(await waitFor(async () => {
    const p = await workerPid(d).catch(() => old);
    return p !== old && d.events('daemon_ready').length >= 2;
  }, 60_000), 'a daemon serves again');
  const back1 = Date.now();
  t.same(await d.servingPids('web'), [appPid], 'the same app instance serves');

  // The new one, right after it served.
  const before = d.events('upgrade_done').length;
  const r2 = await d.ctl('upgrade', '--json');
  t.equal(r2.code, 0, `an upgrade works after that ${r2.stderr}`);
  const to = (JSON.parse(r2.stdout) as { to: { pid: number } }).to.pid;
  t.equal(d.events('upgrade_done').length, before + 1);
  const kill2 = Date.now();
  process.kill(to, 'SIGKILL');
  t.ok(await waitFor(async () => {
    const p = await workerPid(d).catch(() => to);
    return p !== to;
  }, 60_000), 'a daemon serves again after the new one was killed');
  const back2 = Date.now();
  t.same(await d.servingPids('web'), [appPid], 'the same app instance serves');
  t.equal((await get(app.port, '/')).pid, appPid, 'and answers');
  await load.stop();
  t.comment(`${load.count} requests, ${load.failures().length} failed: ${JSON.stringify(load.failures().map((f) => f.error))}`);
  onlyCrashResets(t, load.failures(), [{ at: kill1, until: back1 }, { at: kill2, until: back2 }], 2);

  d.child!.kill('SIGTERM');
  t.same(await d.exited(), { code: 0, signal: null }, 'SIGTERM stops it with 0');
  t.notOk(alive(appPid!), 'the app is stopped');
  t.ok(await waitFor(() => daemonProcesses(d.dir).length === 0, 10_000), `no daemon process is left (${daemonProcesses(d.dir).map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')).join('; ')})`);
  t.ok(!existsSync(join(d.runDir, 'gracevisord.lock')), 'the lock is released');
});

t.test('an upgrade to a config without an app: its instance is stopped and its public port is free again; the other app keeps its pid', async (t) => {
  const d = await TestDaemon.create(t);
  const [web, gone] = [await webApp(), { ...(await webApp()), name: 'gone' }];
  await d.writeConfig([web, gone]);
  await d.start();
  const [webPid] = await d.servingPids('web');
  const [gonePid] = await d.servingPids('gone');
  await d.writeConfig([web]);
  const r = await d.ctl('upgrade');
  t.equal(r.code, 0, `upgrade exits 0 ${r.stderr}`);
  t.same(await d.servingPids('web'), [webPid], 'web keeps its instance');
  t.ok(await waitFor(() => !alive(gonePid!), 30_000), 'the removed app\'s instance is stopped');
  // Neither the retired daemon nor the holder keeps the removed app's listener.
  t.ok(await waitFor(() => portFree(gone.port), 30_000), `port ${gone.port} of the removed app is free`);
  t.match(d.events('listeners_released')[0]?.fields.keys ?? '', new RegExp(`:${gone.port}$`), 'the new daemon says it released it');
});

t.test('gracevisord --no-holder runs the daemon alone: upgrade is refused with a clear error', async (t) => {
  const d = await TestDaemon.create(t);
  const app = await webApp();
  await d.writeConfig([app]);
  await d.start({ args: ['--no-holder'] });
  t.equal(await workerPid(d), d.child!.pid, 'the daemon is the process started');
  const r = await d.ctl('upgrade');
  t.equal(r.code, 1, 'upgrade exits 1');
  t.match(r.stderr, /GV_ERR_UPGRADE_FAILED.*--no-holder/, r.stderr.trim());
  track(t, d.child!.pid!, { label: 'gracevisord --no-holder' });
});
