import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSpliceEngineDefinition, spliceEngine } from '../../src/engines/splice.js';
import { loadSpliceAddon } from '../../src/engines/splice-addon.js';
import { GvError } from '../../src/errors.js';
import { skipReason } from './splice-helpers.js';
import { killOnTeardown } from '../helpers/processes.js';

const engineOpts = { app: 'x', host: '127.0.0.1', port: 0, queueTimeoutMs: 100, log: () => {} };

async function tempDir(t: Tap.Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gv-splice-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the engine is available where the addon built', { skip: skipReason }, async (t) => {
  t.equal(spliceEngine.unavailable?.(), null);
});

t.test('a missing addon makes the engine unavailable with a reason, and create() refuses', async (t) => {
  const dir = await tempDir(t);
  const def = createSpliceEngineDefinition(join(dir, 'build', 'Release', 'gracevisor_splice.node'));
  const reason = def.unavailable?.();
  t.type(reason, 'string');
  t.ok(reason!.length > 0, 'the reason is not empty');
  t.throws(() => def.create(engineOpts), { code: 'GV_ERR_ENGINE_UNAVAILABLE' });
  try {
    def.create(engineOpts);
  } catch (err) {
    t.ok(err instanceof GvError);
    t.equal((err as GvError).details?.['reason'], reason, 'the error carries the same reason');
  }
});

t.test('the build\'s UNAVAILABLE note is the reason when the addon did not build', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'build'), { recursive: true });
  await writeFile(join(dir, 'build', 'UNAVAILABLE'), 'native addon did not build: g++: not found\n');
  const def = createSpliceEngineDefinition(join(dir, 'build', 'Release', 'gracevisor_splice.node'));
  t.equal(def.unavailable?.(), 'native addon did not build: g++: not found');
});

t.test('a file that is not a loadable addon gives a reason instead of throwing', async (t) => {
  const dir = await tempDir(t);
  const bad = join(dir, 'bad.node');
  await writeFile(bad, 'not an ELF object');
  const r = loadSpliceAddon(bad);
  t.equal(r.addon, null);
  t.type(r.reason, 'string');
});

t.test('an engine that proxied a connection lets the process exit on its own once closed', { skip: skipReason, timeout: 60000 }, async (t) => {
  // The child runs one connection through the engine, then closes everything it opened and does not
  // call process.exit: it only ends if the addon's thread and thread-safe function let go.
  const child = spawn(process.execPath, ['--import=@tapjs/typescript/import', fileURLToPath(new URL('./splice-exit-child.ts', import.meta.url))], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  killOnTeardown(t, child.pid!);
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (out += d));
  // A bound for a hang, not a timing assert: a child kept alive by the addon is killed and fails.
  const hang = setTimeout(() => child.kill('SIGKILL'), 30000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(hang);
  t.equal(code, 0, 'the child exited by itself');
  t.match(out, /echoed hello/);
});
