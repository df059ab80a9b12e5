import t from 'tap';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GRACEVISORCTL, ensureBuild, freePort, run, TestDaemon } from './harness.js';

// A regression that makes something here hang fails with the test's name, not at tap's timeout.
t.beforeEach((t) => t.setTimeout(120_000));

t.before(() => ensureBuild());

const ctl = (...args: string[]) => run(process.execPath, [GRACEVISORCTL, ...args]);

t.test('over TCP a generated token guards every command, and --conf finds it', async (t) => {
  const d = await TestDaemon.create(t);
  const rpcPort = await freePort();
  d.rpcExtra = ['host: 127.0.0.1', `port: ${rpcPort}`];
  await d.writeConfig([{ name: 'web', port: await freePort() }]);
  await d.start();

  const tokenFile = join(d.dir, 'run', 'control.token');
  t.equal((await stat(tokenFile)).mode & 0o777, 0o600, 'the generated token file is 0600');
  const token = (await readFile(tokenFile, 'utf8')).trim();
  t.ok(token.length >= 32, 'a long random token');

  const tcp = ['--host', '127.0.0.1', '--port', String(rpcPort)];
  const [pid] = await d.servingPids('web');
  const bad = await ctl(...tcp, '--token', 'not-the-token', 'restart', 'web');
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^gracevisorctl: GV_ERR_CONTROL_UNAUTHORIZED: /);
  t.same(await d.servingPids('web'), [pid], 'a rejected restart changed nothing');

  const good = await ctl(...tcp, '--token', token, 'status', '--json');
  t.equal(good.code, 0, good.stderr);
  t.equal(JSON.parse(good.stdout)[0].name, 'web');

  const viaConf = await ctl(...tcp, '--conf', d.dir, 'version');
  t.equal(viaConf.code, 0, `--conf supplies the token from run_dir: ${viaConf.stderr}`);

  const viaEnv = await run(process.execPath, [GRACEVISORCTL, ...tcp, 'plugins', 'list'], { env: { ...process.env, GRACEVISOR_TOKEN: token } });
  t.equal(viaEnv.code, 0, `GRACEVISOR_TOKEN supplies the token: ${viaEnv.stderr}`);

  const viaSocket = await ctl('--conf', d.dir, 'status');
  t.equal(viaSocket.code, 0, '--conf alone uses the config\'s unix socket, which needs no token');
});

t.test('rpc.token_file names the token the daemon requires', async (t) => {
  const d = await TestDaemon.create(t);
  const rpcPort = await freePort();
  const tokenFile = join(d.dir, 'secret.token');
  await writeFile(tokenFile, 'from-a-file-0123456789\n', { mode: 0o600 });
  d.rpcExtra = ['host: 127.0.0.1', `port: ${rpcPort}`, `token_file: ${tokenFile}`];
  await d.writeConfig([{ name: 'web', port: await freePort() }]);
  await d.start();
  const tcp = ['--host', '127.0.0.1', '--port', String(rpcPort)];
  t.equal((await ctl(...tcp, '--token', 'from-a-file-0123456789', 'status')).code, 0);
  t.equal((await ctl(...tcp, '--conf', d.dir, 'status')).code, 0);
  const wrong = await ctl(...tcp, '--token', 'from-a-file', 'status');
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, 'GV_ERR_CONTROL_UNAUTHORIZED');
});
