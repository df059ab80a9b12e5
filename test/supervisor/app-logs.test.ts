import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeLines } from '../../src/supervisor/app-logs.js';
import { openRotating, rotationInterval } from '../../src/supervisor/rotation.js';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { get } from '../helpers/load.js';
import { startSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const LINE = /^[a-z]+(-err)? \d+ \d+( x+)?$/;

t.beforeEach((t) => t.setTimeout(120_000));

/** Files of `dir` named `base` or `base.<anything>`, sorted. */
function family(dir: string, base: string): string[] {
  return readdirSync(dir).filter((f) => f === base || f.startsWith(`${base}.`)).sort();
}

t.test('app output goes to log_dir/app_<name>.out and .err by default', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('plain', join(dir, 'mode'), { logger: { log_format: 'raw' } });
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  t.same(sup.logFiles('plain'), { stdout: join(cfg.logDir, 'app_plain.out'), stderr: join(cfg.logDir, 'app_plain.err') });
  await get(app.external_port as number, '/print?n=3&tag=hello&pad=0');
  await waitFor(() => existsSync(sup.logFiles('plain').stderr) && readFileSync(sup.logFiles('plain').stderr, 'utf8').split('\n').length > 3, 'stderr lines');
  const out = readFileSync(sup.logFiles('plain').stdout, 'utf8').split('\n').filter((l) => l.startsWith('hello'));
  const err = readFileSync(sup.logFiles('plain').stderr, 'utf8').split('\n').filter((l) => l.startsWith('hello'));
  t.equal(out.length, 3);
  t.equal(err.length, 3);
  t.ok(err.every((l) => l.startsWith('hello-err')), 'stderr lines in .err only');
});

t.test('app logs rotate by size and keep max_logs_kept files', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('rot', join(dir, 'mode'), { logger: { max_log_size: '4kb', max_logs_kept: 2, log_format: 'raw' } });
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  const out = sup.logFiles('rot').stdout;
  for (let i = 0; i < 30; i++) await get(app.external_port as number, `/print?n=20&tag=rot&pad=40`);
  await waitFor(() => existsSync(`${out}.2`), 'two rotations');
  for (let i = 0; i < 30; i++) await get(app.external_port as number, `/print?n=20&tag=rot&pad=40`);
  // Lines reach the file in order: once the last one is in the live file, every write (and the
  // rotations they caused) is done.
  await get(app.external_port as number, '/print?n=1&tag=last&pad=0');
  await waitFor(() => existsSync(out) && /(^|\n)last 0 /.test(readFileSync(out, 'utf8')), 'the last line written');
  const files = readdirSync(cfg.logDir).filter((f) => f.startsWith('app_rot.out')).sort();
  t.same(files, ['app_rot.out', 'app_rot.out.1', 'app_rot.out.2'], 'the live file and max_logs_kept rotated ones');
  for (const f of files.slice(1)) {
    const size = statSync(join(cfg.logDir, f)).size;
    // Rotation happens after the write that crosses the limit; one write here is at most ~1.3 KB.
    t.ok(size >= 4096 && size < 4096 + 2048, `${f} rotated near max_log_size (${size} bytes)`);
    const lines = readFileSync(join(cfg.logDir, f), 'utf8').split('\n').filter(Boolean);
    t.ok(lines.every((l) => LINE.test(l)), `${f} holds whole lines only`);
  }
});

t.test('an app\'s logger.max_log_age rotates its log by age', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('aged', join(dir, 'mode'), { logger: { max_log_age: '1s', max_logs_kept: 3, log_format: 'raw' } });
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  const out = sup.logFiles('aged').stdout;
  // A line now and then (never enough to rotate by size: the default max_log_size is 500 MB). The
  // rotation is on the clock (every whole second here), so on a slow machine a first second can pass
  // before the app's first line: wait for a rotated file that holds lines.
  let i = 0;
  const withLines = (): string[] => family(cfg.logDir, 'app_aged.out').filter((f) => f !== 'app_aged.out' && readFileSync(join(cfg.logDir, f), 'utf8').length > 0);
  await waitFor(async () => {
    await get(app.external_port as number, `/print?n=1&tag=tick${i++}&pad=0`);
    return withLines().length > 0;
  }, 'a file rotated by age', 20_000, 200);
  t.ok(existsSync(`${out}.1`), 'app_aged.out.1 appeared');
  const first = join(cfg.logDir, withLines()[0]!);
  const rotated = readFileSync(first, 'utf8').split('\n').filter(Boolean);
  t.ok(rotated.length > 0 && rotated.every((l) => /^tick\d+ 0 \d+ $/.test(l)), `it holds whole lines of the app (${rotated.length})`);
  t.ok(statSync(first).size < 4096, 'rotated by age, not by size');
});

t.test('max_logs_kept 0 keeps no rotated file: the live file rotates and the old content is gone', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('zero', join(dir, 'mode'), { logger: { max_log_size: '4kb', max_logs_kept: 0, log_format: 'raw' } });
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  const out = sup.logFiles('zero').stdout;
  // About 40 KB of lines: ten times max_log_size.
  for (let i = 0; i < 40; i++) await get(app.external_port as number, '/print?n=20&tag=zero&pad=40');
  await get(app.external_port as number, '/print?n=1&tag=last&pad=0');
  await waitFor(() => existsSync(out) && /(^|\n)last 0 /.test(readFileSync(out, 'utf8')), 'the last line written');
  t.ok(statSync(out).size < 4096 + 2048, `the live file rotated (${statSync(out).size} bytes of ~40 KB written)`);
  t.same(family(cfg.logDir, 'app_zero.out'), ['app_zero.out'], 'only the live file: max_logs_kept 0 keeps none (README: "0 keeps none")');
});

t.test('lines of two apps and of stdout and stderr sharing one log_file never interleave mid-line', async (t) => {
  const dir = tempDir(t);
  const shared = join(dir, 'shared.log');
  const a = await behaveApp('one', join(dir, 'mode'), { instances: 2, logger: { log_file: shared, log_format: 'raw' } });
  const b = await behaveApp('two', join(dir, 'mode'), { logger: { log_file: shared, log_format: 'raw' } });
  const cfg = await writeConfig(dir, [a, b]);
  const sup = await startSupervisor(t, cfg.file);
  t.same(sup.logFiles('one'), { stdout: shared, stderr: shared });
  // Long lines (>4 KB each batch, 2 KB+ per line) from three processes at once.
  await Promise.all([
    ...Array.from({ length: 6 }, () => get(a.external_port as number, '/print?n=40&tag=aaa&pad=3000')),
    ...Array.from({ length: 3 }, () => get(b.external_port as number, '/print?n=40&tag=bbb&pad=3000')),
  ]);
  const expected = (6 + 3) * 40 * 2;
  await waitFor(() => readFileSync(shared, 'utf8').split('\n').filter((l) => l.startsWith('aaa') || l.startsWith('bbb')).length >= expected, 'every line written');
  const lines = readFileSync(shared, 'utf8').split('\n').filter((l) => l.startsWith('aaa') || l.startsWith('bbb'));
  t.equal(lines.length, expected);
  t.same(lines.filter((l) => !LINE.test(l)).slice(0, 3), [], 'every line is whole');
});

t.test('partial lines are held until their newline, and a last line without one is still written', async (t) => {
  const src = new PassThrough();
  const writes: string[] = [];
  pipeLines(src, (b) => writes.push(b.toString()));
  src.write('ab');
  src.write('c\nde');
  src.write('f\ng');
  src.end('h');
  await new Promise((r) => setImmediate(r));
  t.same(writes, ['abc\n', 'def\n', 'gh\n']);
});

t.test('max_log_age maps onto an interval rotating-file-stream accepts', async (t) => {
  t.equal(rotationInterval(86_400_000), '1d');
  t.equal(rotationInterval(2 * 86_400_000 + 5), '2d');
  t.equal(rotationInterval(3_600_000), '1h');
  t.equal(rotationInterval(7 * 60_000), '6m', 'the longest allowed not longer than asked');
  t.equal(rotationInterval(500), '1s');
});

t.test('with no max_logs_kept every rotated file is kept under a time-stamped name', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'keep.log');
  const stream = openRotating(file, { max_log_size: 1024, max_logs_kept: null, max_log_age: null });
  for (let i = 0; i < 5; i++) {
    stream.write(`${'y'.repeat(700)}\n`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise<void>((r) => stream.end(() => r()));
  const rotated = readdirSync(dir).filter((f) => /^keep\.log\.\d{8}T\d{6}-\d+$/.test(f));
  t.ok(rotated.length >= 2, `rotated files kept: ${rotated.join(', ')}`);
  t.ok(existsSync(file));
});

t.test('app logs rotate by age (max_log_age)', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'age.log');
  const stream = openRotating(file, { max_log_size: 0, max_logs_kept: 3, max_log_age: 1000 });
  const deadline = Date.now() + 5000;
  while (!existsSync(`${file}.1`) && Date.now() < deadline) {
    stream.write('tick\n');
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise<void>((r) => stream.end(() => r()));
  t.ok(existsSync(`${file}.1`), 'rotated after the interval');
});

t.test('by default each line is marked with its time, its instance and its stream', async (t) => {
  const dir = tempDir(t);
  const shared = join(dir, 'both.log');
  const app = await behaveApp('marked', join(dir, 'mode'), { logger: { log_file: shared } });
  const cfg = await writeConfig(dir, [app]);
  const sup = await startSupervisor(t, cfg.file);
  const id = sup.status('marked')[0]!.instances[0]!.id;
  await get(app.external_port as number, '/print?n=2&tag=mark&pad=0');
  await waitFor(() => readFileSync(shared, 'utf8').split('\n').filter((l) => l.includes(' mark')).length >= 4, 'both streams written');
  const lines = readFileSync(shared, 'utf8').split('\n').filter((l) => l.includes(' mark'));
  const re = new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${id.replace('#', '\\#')} (out|err) mark(-err)? \\d+`);
  t.same(lines.filter((l) => !re.test(l)), [], 'every line carries the prefix');
  t.ok(lines.some((l) => l.includes(' out mark ')) && lines.some((l) => l.includes(' err mark-err ')), 'stdout and stderr lines are told apart');
});
