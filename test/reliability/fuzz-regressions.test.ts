// Every finding of the config fuzzer (fuzz/README.md) is a file in fuzz/regressions/; each is given to
// the real `gracevisord --check` in a child process with a heap bound and a deadline, and must end as
// the fuzzer's contract says: it loads, or exit 1 with GV_ERR_CONFIG_* problems placed in the file —
// never a signal (yaml-deep-flow-abort.yaml was a V8 abort, exit 134), never GV_ERR_INTERNAL.
import t from 'tap';
import { copyFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { check, setup, tempDir } from './fixtures/lib.js';

setup(t);

const DIR = fileURLToPath(new URL('../../fuzz/regressions/', import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') || f.endsWith('.conf')).sort();

t.test('the regressions folder holds the findings', async (t) => {
  t.ok(files.length >= 3, `${files.length} findings`);
});

t.jobs = 2;
for (const name of files) {
  t.test(name, async (t) => {
    const dir = tempDir(t, 'gv-fuzzreg-');
    // --check picks the syntax from the extension, as the fuzz harness's replay does.
    const conf = join(dir, name.endsWith('.conf') ? 'gracevisor.conf' : 'gracevisor.yaml');
    copyFileSync(join(DIR, name), conf);
    const r = await check(conf, { timeoutMs: 30_000, maxOldMb: 256 });
    t.comment(`${r.ms} ms, exit ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${r.problems.map((p) => `${p.line}:${p.col} ${p.code}`).join('; ') || r.stdout.trim()}`);
    t.notOk(r.timedOut, 'finished');
    t.equal(r.signal, null, 'not killed by a signal');
    t.ok(r.code === 0 || r.code === 1, `exit 0 or 1 (saw ${r.code})`);
    if (r.code === 0) {
      t.equal(r.stdout, 'configuration ok\n');
      return;
    }
    const errors = r.problems.filter((p) => !p.warning);
    t.ok(errors.length > 0, 'a problem is printed');
    for (const p of errors) {
      t.match(p.code, /^GV_ERR_CONFIG_/, `${p.code} is a config code`);
      t.equal(p.file, conf, 'placed in the file');
      t.ok(p.line !== null && p.line >= 1 && p.col !== null && p.col >= 1, 'with line and column');
    }
  });
}
