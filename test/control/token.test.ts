import t from 'tap';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearerToken, readTokenFile, resolveServerToken, tokensEqual } from '../../src/control/token.js';

async function tempDir(t: Tap.Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gv-token-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const rpc = (over: Partial<{ host: string | null; port: number | null; token: string | null; token_file: string | null }> = {}) =>
  ({ socket: '/x.sock', host: '127.0.0.1', port: 9001, token: null, token_file: null, ...over });

t.test('no TCP listener means no token at all', async (t) => {
  const dir = await tempDir(t);
  t.equal(await resolveServerToken(rpc({ host: null, port: null }), dir), null);
  await t.rejects(stat(join(dir, 'control.token')), { code: 'ENOENT' }, 'no file written');
});

t.test('rpc.token wins, then rpc.token_file without surrounding whitespace', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'tok');
  await writeFile(file, '  abc123\n');
  t.equal(await resolveServerToken(rpc({ token: 'direct', token_file: file }), dir), 'direct');
  t.equal(await resolveServerToken(rpc({ token_file: file }), dir), 'abc123');
  await writeFile(file, '\n \n');
  await t.rejects(resolveServerToken(rpc({ token_file: file }), dir), { code: 'GV_ERR_CONFIG_READ' }, 'an empty token file is an error');
  await t.rejects(readTokenFile(join(dir, 'missing')), { code: 'GV_ERR_CONFIG_READ' });
});

t.test('without a configured token a fresh random one is written to run_dir/control.token with mode 0600', async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  const a = await resolveServerToken(rpc(), runDir);
  const file = join(runDir, 'control.token');
  t.equal((await readFile(file, 'utf8')).trim(), a);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.ok(a!.length >= 40);
  // An older file with a looser mode is tightened, and the token changes at every start.
  await chmod(file, 0o644);
  const b = await resolveServerToken(rpc(), runDir);
  t.not(b, a);
  t.equal((await stat(file)).mode & 0o777, 0o600);
});

t.test('bearer tokens are parsed strictly and compared exactly', async (t) => {
  t.equal(bearerToken('Bearer abc'), 'abc');
  t.equal(bearerToken('bearer   abc  '), 'abc');
  t.equal(bearerToken(undefined), null);
  t.equal(bearerToken('Basic abc'), null);
  t.equal(bearerToken('Bearer a b'), null);
  t.equal(bearerToken('Bearer'), null);
  t.ok(tokensEqual('same', 'same'));
  t.notOk(tokensEqual('same', 'same!'));
  t.notOk(tokensEqual('', 'x'));
});
