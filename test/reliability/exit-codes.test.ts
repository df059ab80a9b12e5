// Item 6 of the reliability issue: how gracevisord ends. A log that fails under it must not turn a
// clean SIGTERM into exit 13 (an await that never settles); a start that cannot complete exits 1
// with event=startup_failed.
import t from 'tap';
import { renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Daemon, DEMO_CMD, events, NODE_BARE, parseLog, port, ROOT, setup, within } from './fixtures/lib.js';
import { get } from '../helpers/load.js';

setup(t);

const BEHAVE = join(ROOT, 'test', 'fixtures', 'apps', 'behave.mjs');

t.test('the log folder replaced by a file while the daemon runs: SIGTERM still exits 0 with event=daemon_stopped', async (t) => {
  const d = Daemon.create(t);
  const p = await port();
  const conf = join(d.dir, 'gracevisor.yaml');
  // Small files so that both the app's log and the daemon's own rotate (reopen) soon, and fail then.
  writeFileSync(conf, d.yamlTop({ logger: ['max_log_size: 2K', 'max_logs_kept: 2'] }) + 'apps:\n' + [
    '  - name: web',
    `    command: ${NODE_BARE} ${BEHAVE} --port={port}`,
    '    external_host: 127.0.0.1',
    `    external_port: ${p}`,
    '    stop_timeout: 5s',
  ].join('\n') + '\n');
  await d.start(conf);
  await d.waitServing('web');
  // root can write into a mode-000 folder, so make the folder impossible instead: a file where it
  // was. (Replacing only gracevisor.log by a folder does not make the log fail: its rotation renames
  // the folder aside and opens a new file.)
  renameSync(d.logDir, `${d.logDir}.old`);
  writeFileSync(d.logDir, 'not a folder\n');
  // App output (the app's files rotate and reopen) and daemon log lines (reloads) after the change.
  for (let i = 0; i < 3; i++) t.equal((await get(p, `/print?n=100&tag=t${i}`)).status, 200);
  const failedFiles = (): string[] => [...new Set(parseLog(d.stderr).filter((l) => l.level === 'ERROR' && typeof l.fields.file === 'string' && l.fields.file.startsWith(d.logDir)).map((l) => l.fields.file!))];
  const daemonLog = join(d.logDir, 'gracevisor.log');
  // Reloads write daemon log lines until its file rotates, cannot reopen, and fails (bounded: 12).
  let reloads = 0;
  while (reloads < 12 && !failedFiles().includes(daemonLog)) {
    reloads++;
    t.equal((await d.ctl('reload')).code, 0, 'reload works with a broken log folder');
  }
  t.ok(d.running, 'the daemon runs on');
  t.comment(`log files reported failed on stderr after ${reloads} reloads: ${failedFiles().join(', ')}`);
  t.ok(failedFiles().includes(daemonLog), 'the daemon\'s own log file failed (the case that used to end in exit 13)');

  const e = await d.stop('SIGTERM', 30_000);
  t.ok(e, 'the daemon exited within 30 s of SIGTERM');
  t.comment(`exit after SIGTERM: ${JSON.stringify(e)}`);
  t.same(e && { code: e.code, signal: e.signal }, { code: 0, signal: null }, 'exit status 0 (not 13)');
  const stopped = events(d.stderr, 'daemon_stopped');
  t.equal(stopped.length, 1, 'stderr has event=daemon_stopped');
  t.equal(stopped[0]?.fields.exitCode, '0', 'with exitCode=0');
});

t.test('a public port taken by another listener: the daemon exits 1 with event=startup_failed', async (t) => {
  const d = Daemon.create(t);
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => squatter.close(() => r())));
  const p = (squatter.address() as { port: number }).port;
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + [
    '  - name: web',
    `    command: ${DEMO_CMD}`,
    '    external_host: 127.0.0.1',
    `    external_port: ${p}`,
  ].join('\n') + '\n');
  await d.start(conf, { wait: false });
  const e = await within(d.exit!, 30_000);
  t.ok(e, 'the daemon exited by itself');
  t.same(e, { code: 1, signal: null }, 'exit status 1');
  const failed = events(d.stderr, 'startup_failed');
  t.equal(failed.length, 1, 'event=startup_failed');
  t.comment(`startup_failed code=${failed[0]?.fields.code}`);
  t.match(failed[0]?.fields.code ?? '', /^GV_ERR_/, 'with a GV_ERR_ code');
  t.equal(events(d.stderr, 'daemon_stopped')[0]?.fields.exitCode, '1', 'and event=daemon_stopped exitCode=1');
});

t.test('a run_dir that cannot be created (a path under a file): the daemon exits 1 with event=startup_failed', async (t) => {
  const d = Daemon.create(t);
  const afile = join(d.dir, 'afile');
  writeFileSync(afile, 'a file, not a folder\n');
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop({ runDir: join(afile, 'run') }) + 'apps:\n' + [
    '  - name: web',
    `    command: ${DEMO_CMD}`,
    '    external_host: 127.0.0.1',
    `    external_port: ${await port()}`,
  ].join('\n') + '\n');
  await d.start(conf, { wait: false });
  const e = await within(d.exit!, 30_000);
  t.same(e, { code: 1, signal: null }, 'exit status 1');
  const failed = events(d.stderr, 'startup_failed');
  t.equal(failed.length, 1, 'event=startup_failed');
  t.comment(`startup_failed code=${failed[0]?.fields.code}`);
  t.equal(failed[0]?.fields.code, 'GV_ERR_STATE_FILE', 'code=GV_ERR_STATE_FILE');
});
