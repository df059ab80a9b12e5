// The daemon's own log through the real binary: rotation by the global logger's max_log_size, and a
// daemon whose stderr reader went away (a test process that died, a closed terminal).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { procStart } from '../helpers/leftovers.mjs';
import { track, trackRunDir } from '../helpers/registry.js';
import { within } from '../helpers/wait.js';
import { alive, ensureBuild, freePort, GRACEVISORD, parseLog, ROOT, TestDaemon, waitFor } from './harness.js';

t.before(() => ensureBuild());
t.beforeEach((t) => t.setTimeout(120_000));

t.test('the daemon log rotates at the global logger\'s max_log_size and keeps max_logs_kept files of whole lines', async (t) => {
  const d = await TestDaemon.create(t);
  await d.writeConfig([{ name: 'web', port: await freePort() }], '', ['max_log_size: 1kb', 'max_logs_kept: 2']);
  await d.start();
  const log = join(d.logDir, 'gracevisor.log');
  // Every reload (SIGHUP, nothing changed) writes a few lines; reload until two rotations happened,
  // then a few times more, to see that no third rotated file is kept.
  const reload = async (): Promise<void> => {
    const before = d.events('reload_done').length;
    d.child!.kill('SIGHUP');
    t.ok(await waitFor(() => d.events('reload_done').length > before), 'a reload done');
  };
  for (let i = 0; i < 200 && !existsSync(`${log}.2`); i++) await reload();
  t.ok(existsSync(`${log}.2`), 'gracevisor.log.1 and .2 appeared');
  for (let i = 0; i < 10; i++) await reload();
  const files = readdirSync(d.logDir).filter((f) => f.startsWith('gracevisor.log')).sort();
  t.same(files, ['gracevisor.log', 'gracevisor.log.1', 'gracevisor.log.2'], 'the live file and max_logs_kept (2) rotated ones');
  for (const f of files.slice(1)) {
    const text = readFileSync(join(d.logDir, f), 'utf8');
    const lines = text.split('\n').filter(Boolean);
    t.equal(parseLog(text).length, lines.length, `${f} holds whole log lines only`);
    t.ok(statSync(join(d.logDir, f)).size >= 1024, `${f} was rotated at max_log_size, not before (${statSync(join(d.logDir, f)).size} bytes)`);
  }
  t.ok(parseLog(readFileSync(log, 'utf8')).every((l) => l.level !== 'ERROR'), 'no error was logged');
});

/** CPU seconds `pid` has used (utime + stime), from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

// A daemon left behind by a test process that died used ~86% CPU and ignored SIGTERM: each log line
// to its dead stderr failed (EPIPE), the failure was an uncaught exception, which was logged, to
// stderr, which failed again. (Reproduced with the code of dab727d.)
t.test('a daemon whose stderr reader died keeps working, stays idle, and stops on SIGTERM', async (t) => {
  const d = await TestDaemon.create(t);
  await d.writeConfig([{ name: 'web', port: await freePort() }]);
  trackRunDir(t, d.runDir, 'daemon with a dead stderr');
  // The holder starts gracevisord with its stdout and stderr piped to itself, as a test process does.
  const holderSrc = [
    "const { spawn } = require('node:child_process');",
    `const d = spawn(process.execPath, [${JSON.stringify(GRACEVISORD)}, '--conf', ${JSON.stringify(d.dir)}], { stdio: ['ignore', 'pipe', 'pipe'] });`,
    "d.stdout.resume(); d.stderr.resume();",
    'console.log(d.pid);',
    'setInterval(() => {}, 1e6);',
  ].join('\n');
  const holder = spawn(process.execPath, ['-e', holderSrc], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  track(t, holder.pid!, { label: 'stderr holder' });
  const first = await within(new Promise<string>((r) => createInterface({ input: holder.stdout! }).once('line', r)), 30_000, 'the daemon pid from the holder');
  const pid = Number(first);
  track(t, pid, { label: 'gracevisord with a dead stderr' });
  t.ok(await waitFor(async () => (await d.ctl('status', '--json')).code === 0), 'the daemon is up');

  holder.kill('SIGKILL');
  t.ok(await waitFor(() => !alive(holder.pid!)), 'the stderr reader is gone');
  // Every restart writes log lines, each one to the dead pipe as well.
  for (let i = 1; i <= 3; i++) {
    const r = await d.ctl('restart', 'web', '--json');
    t.equal(r.code, 0, `restart ${i} still works (${r.stderr.trim()})`);
  }
  const status = await d.ctl('status', '--json');
  t.equal(JSON.parse(status.stdout)[0].state, 'running', 'status answers and the app runs');
  // Idle now: a daemon looping on EPIPE burns a whole core. Over 2 s an idle one uses next to nothing
  // (an upper bound on CPU work, which a loaded machine can only make smaller).
  const cpu0 = cpuSeconds(pid);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 2000));
  const share = (cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000);
  t.ok(share < 0.2, `the idle daemon uses little CPU (${(share * 100).toFixed(0)}% of a core)`);

  const start = procStart(pid);
  process.kill(pid, 'SIGTERM');
  t.ok(await waitFor(() => procStart(pid) !== start, 30_000), 'SIGTERM stops it');
  const lines = parseLog(readFileSync(join(d.logDir, 'gracevisor.log'), 'utf8'));
  t.equal(lines.filter((l) => l.fields.event === 'daemon_stopped' && l.fields.exitCode === '0').length, 1, 'event=daemon_stopped exitCode=0');
  t.same(lines.filter((l) => l.level === 'ERROR').map((l) => l.line), [], 'no error was logged (no uncaught exception from the dead pipe)');
});
