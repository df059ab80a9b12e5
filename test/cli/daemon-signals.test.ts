import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seenInstances } from '../helpers/registry.js';
import { alive, BEHAVE, ensureBuild, freePort, NODE_BARE, TestDaemon, waitFor } from './harness.js';

t.before(() => ensureBuild());
// A regression that makes a daemon hang fails here, with the name of the test, not at tap's 900 s.
t.beforeEach((t) => t.setTimeout(120_000));

/** The lines of a file, or [] before it exists. */
function linesOf(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** A behave.mjs app that appends every signal it gets to `signalLog` and stops on it. */
function signalApp(name: string, port: number, signalLog: string, extra: string[] = []) {
  return { name, port, command: `${NODE_BARE} ${BEHAVE} --port={port}`, extra: [`environment: ["GV_SIGNAL_LOG=${signalLog}"]`, ...extra] };
}

t.test('an app instance that crashes is replaced and the daemon keeps running', async (t) => {
  const d = await TestDaemon.create(t);
  await d.writeConfig([{ name: 'web', port: await freePort() }, { name: 'api', port: await freePort() }]);
  await d.start();
  const [pid] = await d.servingPids('web');
  const [apiPid] = await d.servingPids('api');
  process.kill(pid!, 'SIGKILL');
  t.ok(await waitFor(async () => {
    const pids = await d.servingPids('web');
    return pids.length === 1 && pids[0] !== pid;
  }), 'a replacement instance serves');
  const exit = await d.waitForEvent('instance_exit', { app: 'web' });
  t.match(exit.fields, { app: 'web', signal: 'SIGKILL' }, 'the crash is logged as an instance_exit with its signal');
  t.equal(d.child!.exitCode, null, 'the daemon is still running');
  t.same(await d.servingPids('api'), [apiPid], 'the other app was not touched');
});

t.test('a second SIGTERM during a slow shutdown kills every instance and exits 1', async (t) => {
  const d = await TestDaemon.create(t);
  // An app that ignores SIGTERM, with a long stop_timeout: a graceful shutdown would take a minute.
  const stubborn = join(d.dir, 'stubborn.mjs');
  await writeFile(stubborn, [
    "import { createServer } from 'node:http';",
    "process.on('SIGTERM', () => console.log('ignoring SIGTERM'));",
    "createServer((q, s) => s.end('ok')).listen(Number(process.argv[2]), '127.0.0.1');",
  ].join('\n'));
  await d.writeConfig([{ name: 'slow', port: await freePort(), command: `${process.execPath} ${stubborn} {port}`, stopTimeout: '60s' }]);
  await d.start();
  const [pid] = await d.servingPids('slow');
  d.child!.kill('SIGTERM');
  await d.waitForEvent('shutting_down', { signal: 'SIGTERM' });
  // The app got its SIGTERM and ignored it: its own output says so.
  const out = join(d.logDir, 'app_slow.out');
  t.ok(await waitFor(() => linesOf(out).some((l) => l.endsWith('ignoring SIGTERM'))), 'the app received SIGTERM and ignored it');
  t.ok(alive(pid!), 'the stubborn instance is still there');
  d.child!.kill('SIGTERM');
  const exit = await d.exited();
  t.same(exit, { code: 1, signal: null }, 'forced exit is status 1');
  t.ok(d.events('shutdown_forced', { signal: 'SIGTERM' }).length === 1, 'the forced shutdown is logged');
  t.ok(d.events('daemon_stopped', { exitCode: 1 }).length === 1, 'daemon_stopped says exitCode=1');
  t.ok(await waitFor(() => !alive(pid!)), 'no instance left running');
});

t.test('SIGINT stops the daemon gracefully like SIGTERM: every app gets its stop signal, exit 0, no app process left', async (t) => {
  const d = await TestDaemon.create(t);
  const signals = join(d.dir, 'signals.log');
  await d.writeConfig([signalApp('web', await freePort(), signals), signalApp('api', await freePort(), signals, ['instances: 2'])]);
  await d.start();
  const pids = [...await d.servingPids('web'), ...await d.servingPids('api')];
  t.equal(pids.length, 3);
  d.child!.kill('SIGINT');
  const exit = await d.exited();
  t.same(exit, { code: 0, signal: null }, 'exit 0');
  t.equal(d.events('shutting_down', { signal: 'SIGINT' }).length, 1, 'the log says event=shutting_down signal=SIGINT');
  t.equal(d.events('daemon_stopped', { exitCode: 0, reason: 'SIGINT' }).length, 1, 'and event=daemon_stopped exitCode=0');
  t.equal(d.events('shutdown_forced').length, 0, 'nothing had to be forced');
  t.same(linesOf(signals).map((l) => l.split(' ')[0]), ['SIGTERM', 'SIGTERM', 'SIGTERM'], 'each instance got its stop_signal (TERM) once, and was not killed');
  t.same(linesOf(signals).map((l) => Number(l.split(' ')[1])).sort(), [...pids].sort(), 'from every instance');
  const every = seenInstances(d.runDir);
  t.ok(every.length >= 3, 'the run_dir listed every instance');
  t.same(every.filter(alive), [], 'no app process is left');
  t.notOk(existsSync(d.socket), 'the control socket is removed');
});

t.test('a stop_signal other than TERM (INT, QUIT) is the signal the app receives, on a restart and on shutdown', async (t) => {
  const d = await TestDaemon.create(t);
  const logs = { INT: join(d.dir, 'int.log'), QUIT: join(d.dir, 'quit.log') };
  await d.writeConfig([
    signalApp('int', await freePort(), logs.INT, ['stop_signal: INT']),
    signalApp('quit', await freePort(), logs.QUIT, ['stop_signal: QUIT']),
  ]);
  await d.start();
  const first = { INT: (await d.servingPids('int'))[0]!, QUIT: (await d.servingPids('quit'))[0]! };
  for (const [sig, app] of [['INT', 'int'], ['QUIT', 'quit']] as const) {
    const r = await d.ctl('restart', app, '--json');
    t.equal(r.code, 0, r.stderr);
    t.ok(await waitFor(() => !alive(first[sig])), `the old ${app} instance exited`);
    t.same(linesOf(logs[sig]), [`SIG${sig} ${first[sig]}`], `the old ${app} instance got SIG${sig}, and nothing else`);
  }
  const second = { INT: (await d.servingPids('int'))[0]!, QUIT: (await d.servingPids('quit'))[0]! };
  d.child!.kill('SIGTERM');
  t.same(await d.exited(), { code: 0, signal: null });
  for (const sig of ['INT', 'QUIT'] as const) {
    t.same(linesOf(logs[sig]), [`SIG${sig} ${first[sig]}`, `SIG${sig} ${second[sig]}`], `on shutdown too the app got SIG${sig}`);
    t.notOk(alive(second[sig]), 'and stopped on it');
  }
});
