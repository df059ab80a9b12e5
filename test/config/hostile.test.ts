// The hostile-config table (test/reliability/fixtures/hostile-cases.ts) loaded in this process, through
// loadConfig, the way the daemon reads a config but without the worker thread's memory and time bounds.
// test/reliability/hostile-configs.test.ts gives the same cases to the real `gracevisord --check`; this
// twin checks the same answers where the readers run in the test process, which is where mutation
// testing (npm run mutate) can see them. Cases whose answer is a bound (GV_ERR_CONFIG_LIMIT) need the
// worker and stay with the CLI test.
import t from 'tap';
import { join, relative } from 'node:path';
import { GvConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { createRegistry } from '../../src/builtins.js';
import type { RuntimeInfo } from '../../src/config/defaults.js';
import { CASES } from '../reliability/fixtures/hostile-cases.js';
import { tempDir } from '../helpers/tmp.js';
import { within } from '../helpers/wait.js';

const runtime: RuntimeInfo = { uid: 1000, env: {}, tmpdir: '/tmp' };

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const dir = tempDir(t, 'gv-hostile-');
    const { conf, expect } = c.build(dir);
    if (expect.code === 'GV_ERR_CONFIG_LIMIT') return t.skip('answered by the reader worker’s bounds: see test/reliability/hostile-configs.test.ts');
    const load = loadConfig(conf, { runtime, registry: createRegistry().configView() });
    const err = await within(load, c.timeoutMs ?? 30_000, `loading ${c.name}`).then(() => null, (e: unknown) => e);
    if (err !== null && !(err instanceof GvConfigError)) return t.fail(`expected a GvConfigError, got ${String(err)}`);
    if (expect.orOk && err === null) return t.pass('it loaded, which this case allows');
    if (expect.exit === 0) return t.equal(err, null, err ? `loads, but: ${err.errors.slice(0, 3).map((e) => e.format()).join(' | ')}` : 'loads');
    if (!err) return t.fail('it loaded; a problem was expected');
    t.notOk(err.errors.some((e) => !e.code.startsWith('GV_ERR_CONFIG_')), `only GV_ERR_CONFIG_* codes (saw ${[...new Set(err.errors.map((e) => e.code))].join(', ')})`);
    const first = err.errors[0]!;
    const where = `${first.pos?.file ? relative(dir, first.pos.file) : '-'}:${first.pos?.line}:${first.pos?.col} ${first.code}`;
    if (expect.code) t.equal(first.code, expect.code, `code ${expect.code} (first: ${where})`);
    if (expect.line !== undefined) {
      const file = expect.line === null ? undefined : join(dir, expect.file ?? relative(dir, conf));
      t.equal(first.pos?.file, file, `${expect.line === null ? 'about the whole file (no position)' : `in ${expect.file ?? relative(dir, conf)}`} (first: ${where})`);
      t.equal(first.pos?.line, expect.line ?? undefined, `line ${expect.line}`);
    }
    if (expect.col !== undefined) t.equal(first.pos?.col, expect.col ?? undefined, `col ${expect.col}`);
  });
}
