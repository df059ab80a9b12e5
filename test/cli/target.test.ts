import t from 'tap';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSocketPath, resolveTarget } from '../../src/cli/ctl/target.js';
import { loadConfig } from '../../src/config/load.js';

async function tempDir(t: Tap.Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gv-target-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the default socket is the one the config layer gives a config without rpc.socket', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'gracevisor.yaml'), 'apps: []\n');
  const config = await loadConfig(dir);
  t.equal(defaultSocketPath(), config.rpc.socket);
  t.same(await resolveTarget({}), { socket: config.rpc.socket });
});

t.test('--conf gives the config\'s socket, and with --host/--port its token', async (t) => {
  const dir = await tempDir(t);
  const sock = join(dir, 'ctl.sock');
  await writeFile(join(dir, 'gracevisor.yaml'), `rpc:\n  socket: ${sock}\n  host: 127.0.0.1\n  port: 9321\n  token: from-config\napps: []\n`);
  t.same(await resolveTarget({ conf: dir }), { socket: sock });
  t.same(await resolveTarget({ conf: dir, host: '127.0.0.1', port: 9321 }), { host: '127.0.0.1', port: 9321, token: 'from-config' });
  t.same(await resolveTarget({ conf: dir, host: '127.0.0.1', port: 9321, token: 'explicit' }), { host: '127.0.0.1', port: 9321, token: 'explicit' });
  t.same(await resolveTarget({ conf: dir, socket: '/x.sock' }), { socket: '/x.sock' }, '--socket wins over --conf');
});

t.test('without a configured token the client reads <run_dir>/control.token', async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  await mkdir(runDir);
  await writeFile(join(runDir, 'control.token'), 'generated-token\n', { mode: 0o600 });
  await writeFile(join(dir, 'gracevisor.yaml'), `run_dir: ${runDir}\nrpc:\n  port: 9322\napps: []\n`);
  t.same(await resolveTarget({ conf: dir, host: 'localhost', port: 9322 }), { host: 'localhost', port: 9322, token: 'generated-token' });
});

t.test('contradictory connection options are usage errors', async (t) => {
  await t.rejects(resolveTarget({ host: 'localhost' }), { name: 'UsageError' });
  await t.rejects(resolveTarget({ port: 9001 }), { name: 'UsageError' });
  await t.rejects(resolveTarget({ host: 'localhost', port: 9001, socket: '/x.sock' }), { name: 'UsageError' });
});

t.test('a --conf that does not load is reported with its code', async (t) => {
  const dir = await tempDir(t);
  await t.rejects(resolveTarget({ conf: join(dir, 'missing') }), { code: 'GV_ERR_CONFIG_NOT_FOUND' });
});
