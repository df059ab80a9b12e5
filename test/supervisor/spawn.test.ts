import t from 'tap';
import type { GvConfigError } from '../../src/errors.js';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DaemonLog } from '../../src/supervisor/daemon-log.js';
import { buildEnv, splitCommand } from '../../src/supervisor/spawn-spec.js';
import { BEHAVE_APP, behaveApp, NODE_BARE, writeConfig } from '../helpers/config.js';
import { startDaemon } from '../helpers/daemon.js';
import { get } from '../helpers/load.js';
import { recorder, startSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';
import { within } from '../helpers/wait.js';

t.beforeEach((t) => t.setTimeout(120_000));

t.test('a command with quoted words reaches the app as the same words, with {port} filled in', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('quotes', join(dir, 'mode'), {
    command: `${NODE_BARE} ${BEHAVE_APP} --port={port} "two words" 'single {port}' plain\\ escaped ""`,
  });
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  const port = sup.status('quotes')[0]!.instances[0]!.port;
  const { argv } = JSON.parse((await get(app.external_port as number, '/argv')).body) as { argv: string[] };
  t.same(argv, [`--port=${port}`, 'two words', `single ${port}`, 'plain escaped', '']);
});

t.test('environment adds to the daemon’s environment with {port} filled in, in the configured directory', async (t) => {
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const app = await behaveApp('envy', join(dir, 'mode'), {
    command: `${NODE_BARE} ${BEHAVE_APP}`,
    environment: ['GV_PORT={port}', 'GV_LABEL=at-{port}', `GV_MODE_FILE=${join(dir, 'mode')}`],
    directory: work,
  });
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  const inst = sup.status('envy')[0]!.instances[0]!;
  const { env } = JSON.parse((await get(app.external_port as number, '/argv')).body) as { env: Record<string, string> };
  t.same(env, { GV_PORT: String(inst.port), GV_LABEL: `at-${inst.port}` });
  const environ = readFileSync(`/proc/${inst.pid}/environ`, 'utf8').split('\0');
  t.ok(environ.includes(`PATH=${process.env.PATH}`), 'the daemon’s environment is inherited');
  const { readlinkSync } = await import('node:fs');
  t.equal(readlinkSync(`/proc/${inst.pid}/cwd`), work, 'it runs in directory');
});

t.test('each instance leads its own process group', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('group', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  const pid = sup.status('group')[0]!.instances[0]!.pid!;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  t.equal(Number(fields[2]), pid, 'pgid is its own pid');
});

t.test('shell syntax in command is refused at spawn with GV_ERR_SPAWN, and earlier, at its position, by the config check', async (t) => {
  t.throws(() => splitCommand('node app.js | tee out'), { code: 'GV_ERR_SPAWN', details: { operator: '|' } });
  t.throws(() => splitCommand('a && b'), { code: 'GV_ERR_SPAWN' });
  t.throws(() => splitCommand('a > file'), { code: 'GV_ERR_SPAWN' });
  t.throws(() => splitCommand('echo `date`'), { code: 'GV_ERR_SPAWN', details: { operator: '`' } });
  t.throws(() => splitCommand('echo $(date)'), { code: 'GV_ERR_SPAWN', details: { operator: '$(' } });
  t.throws(() => splitCommand('   '), { code: 'GV_ERR_SPAWN' });
  t.same(splitCommand('node $HOME/app.js *.js # comment'), ['node', '$HOME/app.js', '*.js'], '$VAR and globs stay as written');
  t.throws(() => buildEnv(['NOEQUALS'], 1), { code: 'GV_ERR_SPAWN' });

  const dir = tempDir(t);
  const app = await behaveApp('ops', join(dir, 'mode'), { command: `${NODE_BARE} ${BEHAVE_APP} --port={port} && echo hi` });
  const cfg = await writeConfig(dir, [app]);
  const err = await startSupervisor(t, cfg.file).then(() => null, (e: unknown) => e as GvConfigError);
  t.equal(err?.code, 'GV_ERR_CONFIG_COMMAND', 'the config does not load');
  t.match(err?.errors[0], { details: { operator: '&&' } });
  // The value starts on the `command:` line (YAML may fold a long one onto the next lines).
  const line = readFileSync(cfg.file, 'utf8').split('\n').findIndex((l) => /^\s+command: /.test(l)) + 1;
  t.same(err?.errors[0]?.pos, { file: cfg.file, line, col: 14 }, 'at the command value: its file, line and column');
});

t.test('a command that does not exist fails its start with GV_ERR_SPAWN', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('missing', join(dir, 'mode'), { command: '/nonexistent/binary --port={port}' });
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  t.equal(rec.of('onRestartFailed', 'missing')[0]?.e.error.code, 'GV_ERR_SPAWN');
  t.equal(sup.ports.inUse.length, 0, 'its port went back to the pool');
});

/** The first folder above `file` that other users cannot enter (mode without o+x), or null. */
function closedToOthers(file: string): string | null {
  for (let d = dirname(file); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return d;
    if (d === dirname(d)) return null;
  }
}

// `nobody` must be able to reach the test app (and, below, the daemon): a checkout under a private
// folder (a 0700 home, or the mutation tester's sandbox) cannot run these tests, and says so.
const closed = closedToOthers(BEHAVE_APP);
const asUserSkip = process.getuid?.() !== 0 ? 'needs root' : closed !== null && `nobody cannot enter ${closed}`;
t.test('as root, user runs the app under that uid and gid', { skip: asUserSkip }, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const app = await behaveApp('asuser', join(dir, 'mode'), { user: { username: 'nobody' } });
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  const appStatus = sup.status('asuser')[0]!;
  const inst = appStatus.instances[0];
  if (!inst) return t.fail(`no instance of the app running as nobody (app ${appStatus.state}: ${appStatus.lastError ?? 'no error'})`);
  t.equal(inst.state, 'serving', inst.lastError ?? '');
  const status = readFileSync(`/proc/${inst.pid}/status`, 'utf8');
  t.match(status, /^Uid:\t65534\t65534\t65534\t65534$/m);
  t.match(status, /^Gid:\t65534\t65534\t65534\t65534$/m);
  t.match(status, /^Groups:\t65534 ?$/m, 'supplementary groups are the user’s');
});

t.test('an unknown user fails the app with GV_ERR_CONFIG_USER while the others start', async (t) => {
  const dir = tempDir(t);
  const bad = await behaveApp('baduser', join(dir, 'mode'), { user: { username: 'no-such-user-gv' } });
  const good = await behaveApp('good', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [bad, good]);
  const log = new DaemonLog({ stderr: false });
  const codes: unknown[] = [];
  log.onRecord((r) => codes.push(r.fields.code));
  const sup = await startSupervisor(t, cfg.file, { log });
  t.ok(codes.includes('GV_ERR_CONFIG_USER'), 'the daemon log says why');
  t.equal(sup.status('good')[0]!.state, 'running');
  const broken = sup.status('baduser')[0]!;
  t.equal(broken.state, 'fatal', 'the app shows as fatal');
  t.ok(broken.lastError, 'with the reason');
  const res = await sup.restartApp('baduser');
  t.equal(res.error?.code, 'GV_ERR_CONFIG_USER');
});

t.test('a daemon that is not root cannot run an app as another user: GV_ERR_USER_SWITCH, the other apps start', { skip: process.getuid?.() !== 0 ? 'needs root to start a daemon as nobody' : asUserSkip }, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o777);
  const asRoot = await behaveApp('asroot', join(dir, 'mode'), { user: { username: 'root' } });
  const plain = await behaveApp('plain', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [asRoot, plain]);
  const daemon = startDaemon(t, cfg.file, { uid: 65534 });
  const ready = await daemon.ready;
  if (!ready.ok) throw new Error(ready.error.message);
  t.same(ready.status.map((a) => [a.name, a.state]), [['asroot', 'fatal'], ['plain', 'running']], 'only the app without a user switch runs');
  daemon.child.kill('SIGTERM');
  await within(daemon.exited, 60_000, 'the daemon exit');
  const log = readFileSync(join(cfg.logDir, 'gracevisor.log'), 'utf8');
  t.match(log, /event=app_fatal app=asroot code=GV_ERR_USER_SWITCH/);
});
