import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRACEVISORD, ROOT, ensureBuild, freePort, run, TestDaemon } from './harness.js';

// A regression that makes something here hang fails with the test's name, not at tap's timeout.
t.beforeEach((t) => t.setTimeout(60_000));

t.before(() => ensureBuild());

const daemon = (...args: string[]) => run(process.execPath, [GRACEVISORD, ...args]);

t.test('gracevisord --check on the demo conf/ prints configuration ok and exits 0', async (t) => {
  const r = await daemon('--conf', join(ROOT, 'conf'), '--check');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'configuration ok');
});

t.test('gracevisord --check on a broken file exits 1 with file:line:col and the code', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gv-check-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'gracevisor.yaml');
  await writeFile(file, 'port_range: { from: 10000, to: 11000 }\napps:\n  - name: web\n    comand: ./web --port={port}\n');
  const r = await daemon('--conf', file, '--check');
  t.equal(r.code, 1);
  t.match(r.stderr, `${file}:4:5: GV_ERR_CONFIG_UNKNOWN_KEY`);
});

t.test('gracevisord --print writes the resolved config as JSON', async (t) => {
  const r = await daemon('--conf', join(ROOT, 'conf', 'gracevisor.yaml'), '--print');
  t.equal(r.code, 0, r.stderr);
  const config = JSON.parse(r.stdout);
  t.equal(config.apps[0].name, 'demo');
});

t.test('gracevisord --version and --help exit 0', async (t) => {
  const v = await daemon('--version');
  t.equal(v.code, 0);
  t.match(v.stdout, /^\d+\.\d+\.\d+/);
  const h = await daemon('--help');
  t.equal(h.code, 0);
  t.match(h.stdout, '--conf');
  const bad = await daemon('--no-such-option');
  t.equal(bad.code, 2, 'a usage error exits 2');
});

t.test('a daemon whose config does not load prints every error and starts nothing', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  await d.writeConfig([{ name: 'web', port, extra: ['start_timeout: soon'] }], 'bogus: 1');
  const r = await daemon('--conf', d.dir);
  t.equal(r.code, 1);
  const text = await readFile(d.confFile, 'utf8');
  const lineOf = (needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  // `bogus: 1` at the top level (column 1); `    start_timeout: soon` (the value at column 20).
  t.match(r.stderr, `${d.confFile}:${lineOf('bogus: 1')}:1: GV_ERR_CONFIG_UNKNOWN_KEY: `);
  t.match(r.stderr, `${d.confFile}:${lineOf('start_timeout: soon')}:20: GV_ERR_CONFIG_DURATION: `);
  const ctl = await d.ctl('status');
  t.equal(ctl.code, 1, 'no control socket');
  t.match(ctl.stderr, 'GV_ERR_CONTROL_UNREACHABLE');
});
