// Item 17 of the reliability issue: a hostile-input suite. Every case of ./fixtures/hostile-cases.ts is a
// config built to be broken or hostile, given to the real `gracevisord --check` in a child process
// with a heap bound (--max-old-space-size=256) and a deadline (30 s unless the case says more; the
// child is killed at the deadline and the case fails). Each asserts the exit status and, for a
// failure, the first problem's code and file:line:col; no case may answer GV_ERR_INTERNAL.
//
// The heap bound is passed as NODE_OPTIONS, not on node's command line: the argv form makes every
// load fail with GV_ERR_INTERNAL today (a product bug; heap-flags.test.ts is its regression test).
import t from 'tap';
import { join, relative } from 'node:path';
import { check, setup, tempDir } from './fixtures/lib.js';
import { CASES } from './fixtures/hostile-cases.js';

setup(t);

const HEAP_MB = 256;
/** Far above what any case needs; the V8 heap bound is the real limit, this catches the rest (the reader worker, buffers). */
const RSS_BOUND_MB = 1024;

// Two checks at a time: each is a node process and a worker starting (about a second of CPU), and
// the machine has two cores.
t.jobs = 2;
for (const c of CASES) {
  t.test(c.name, async (t) => {
    const dir = tempDir(t, 'gv-hostile-');
    const { conf, expect } = c.build(dir);
    const deadline = c.timeoutMs ?? 30_000;
    const r = await check(conf, { timeoutMs: deadline, maxOldMb: HEAP_MB });
    const first = r.problems.find((p) => !p.warning);
    t.comment(`${r.ms} ms, peak RSS ${(r.peakKb / 1024).toFixed(0)} MiB, exit ${r.code}${r.signal ? ` (${r.signal})` : ''}; first: ${first ? `${first.file ? relative(dir, first.file) : '-'}:${first.line}:${first.col} ${first.code}` : r.stdout.trim().slice(0, 60)}`);
    t.notOk(r.timedOut, `finished within ${deadline / 1000} s`);
    t.ok(r.peakKb < RSS_BOUND_MB * 1024, `peak RSS under ${RSS_BOUND_MB} MiB`);
    t.equal(r.signal, null, 'not killed by a signal');
    const errors = r.problems.filter((p) => !p.warning);
    t.notOk(errors.some((p) => !p.code.startsWith('GV_ERR_CONFIG_')), `only GV_ERR_CONFIG_* codes (saw ${[...new Set(errors.map((p) => p.code))].join(', ') || 'none'})`);
    if (expect.orOk && r.code === 0) {
      t.pass('it loaded (configuration ok), which this case allows');
      t.equal(r.stdout, 'configuration ok\n');
      return;
    }
    t.equal(r.code, expect.exit, `exit ${expect.exit}`);
    if (expect.exit === 0) {
      t.same(errors, [], 'no problem printed');
      t.equal(r.stdout, 'configuration ok\n');
      if (expect.warning) t.ok(r.problems.some((p) => p.warning && p.code === expect.warning), `a warning line with ${expect.warning}`);
      return;
    }
    t.ok(first, 'a problem is printed');
    if (!first) {
      t.comment(`stderr: ${r.stderr.slice(0, 600)}`);
      return;
    }
    if (expect.code) t.equal(first.code, expect.code, `code ${expect.code}`);
    if (expect.line !== undefined) {
      const file = expect.line === null ? null : join(dir, expect.file ?? relative(dir, conf));
      t.equal(first.file, file, expect.line === null ? 'about the whole file (no position)' : `in ${expect.file ?? relative(dir, conf)}`);
      t.equal(first.line, expect.line, `line ${expect.line}`);
    }
    if (expect.col !== undefined) t.equal(first.col, expect.col, `col ${expect.col}`);
    if (expect.line !== null) t.ok(first.line !== null && first.col !== null, 'positioned (file:line:col)');
  });
}
