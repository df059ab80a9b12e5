// Items 1, 2, 3 and 10 of the reliability issue: configs built to hang, exhaust or crash the loader,
// given to the real daemon (reload) and to `gracevisord --check`.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { get } from '../helpers/load.js';
import { alive, check, Daemon, DEMO_CMD, port, procKb, setup, tempDir } from './fixtures/lib.js';

setup(t);

/** Ten anchors, each a list of ten aliases of the one before: 10^9 "lol"s once expanded. */
function billionLaughs(): string {
  const lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n';
}

/** A daemon with one demo app "web"; returns its public port. */
async function oneAppDaemon(t: Test, d: Daemon, extra = ''): Promise<{ port: number; conf: string; good: string }> {
  const p = await port();
  const good = d.yamlTop() + 'apps:\n' + [
    `  - name: web`,
    `    command: ${DEMO_CMD}`,
    `    healthcheck: /health`,
    `    external_host: 127.0.0.1`,
    `    external_port: ${p}`,
    `    stop_timeout: 5s`,
  ].join('\n') + '\n';
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, good + extra);
  await d.start(conf);
  t.ok((await d.waitServing('web')).length === 1, 'web serves');
  return { port: p, conf, good };
}

t.test('a billion-laughs YAML on reload is refused with a GV_ERR_CONFIG_* code, the daemon stays up and bounded, nothing changes', async (t) => {
  const d = Daemon.create(t);
  const { port: p, conf, good } = await oneAppDaemon(t, d);
  const [pid] = await d.serving('web');
  const before = await get(p, '/');
  t.equal(before.status, 200);
  t.equal(before.pid, pid);

  const hwmBefore = procKb(d.pid, 'VmHWM');
  const rssBefore = procKb(d.pid, 'VmRSS');
  writeFileSync(conf, billionLaughs() + good);
  const t0 = Date.now();
  const r = await d.ctl('reload', '--json');
  const ms = Date.now() - t0;
  const hwmAfter = procKb(d.pid, 'VmHWM');
  t.comment(`reload of the billion-laughs config: ${ms} ms; daemon VmRSS before ${rssBefore} KiB, VmHWM before ${hwmBefore} KiB, after ${hwmAfter} KiB (+${((hwmAfter - hwmBefore) / 1024).toFixed(1)} MiB)`);
  t.equal(r.code, 1, 'reload exits 1');
  const err = JSON.parse(r.stdout).error;
  t.match(err.code, /^GV_ERR_CONFIG_/, `reload answers a GV_ERR_CONFIG_* code (saw ${err.code})`);
  const codes = (err.errors ?? [err]).map((e: { code: string }) => e.code);
  t.comment(`codes seen on reload: ${codes.join(', ')}`);
  t.ok(codes.includes('GV_ERR_CONFIG_LIMIT'), 'one of them is GV_ERR_CONFIG_LIMIT');
  const limit = (err.errors ?? [err]).find((e: { code: string }) => e.code === 'GV_ERR_CONFIG_LIMIT');
  t.equal(limit?.pos?.file, conf, 'the limit error is placed in the config file');
  t.ok(d.running && alive(d.pid), 'the daemon pid is alive');
  t.ok(hwmAfter - hwmBefore < 300 * 1024, `peak RSS grew by less than 300 MiB (grew ${((hwmAfter - hwmBefore) / 1024).toFixed(1)} MiB)`);

  const st = await d.ctl('status', '--json');
  t.equal(st.code, 0, 'status still works');
  t.same(await d.serving('web'), [pid], 'nothing changed: the same instance serves');
  const after = await get(p, '/');
  t.equal(after.status, 200, 'the app still answers 200 through its public port');
  t.equal(after.pid, pid, 'from the same instance');

  // --check on the same file finishes with a GV_ERR_CONFIG_* code.
  const c = await check(conf, { timeoutMs: 60_000 });
  t.comment(`--check of the billion-laughs config: ${c.ms} ms, peak RSS ${(c.peakKb / 1024).toFixed(0)} MiB, codes ${c.problems.map((x) => x.code).join(', ')}`);
  t.notOk(c.timedOut, '--check finished within 60 s');
  t.equal(c.code, 1, '--check exits 1');
  t.ok(c.problems.length > 0 && c.problems.every((x) => x.code.startsWith('GV_ERR_CONFIG_')), 'with GV_ERR_CONFIG_* problems only');
});

t.test('an include that is a FIFO or /dev/zero is GV_ERR_CONFIG_READ at the include, on --check and reload, and does not block a later reload', async (t) => {
  const d = Daemon.create(t);
  const { port: p, conf, good } = await oneAppDaemon(t, d);
  const [pid] = await d.serving('web');
  const fifo = join(d.dir, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);

  for (const target of [fifo, '/dev/zero']) {
    // The include line is the last line; its value starts after `apps_include: [`.
    const text = good + `apps_include: [${JSON.stringify(target)}]\n`;
    writeFileSync(conf, text);
    const line = text.split('\n').length - 1;
    const col = 'apps_include: ['.length + 1;

    const c = await check(conf, { timeoutMs: 20_000 });
    t.notOk(c.timedOut, `--check of an include of ${target} finished (${c.ms} ms)`);
    t.equal(c.code, 1, '--check exits 1');
    t.same(c.problems.map((x) => [x.code, x.file, x.line, x.col]), [['GV_ERR_CONFIG_READ', conf, line, col]], 'GV_ERR_CONFIG_READ at the include');

    const t0 = Date.now();
    const r = await d.ctl('reload', '--json');
    t.comment(`reload with an include of ${target}: ${Date.now() - t0} ms`);
    t.equal(r.code, 1, 'reload exits 1');
    const err = JSON.parse(r.stdout).error;
    t.same((err.errors ?? [err]).map((e: any) => [e.code, e.pos?.file, e.pos?.line, e.pos?.col]), [['GV_ERR_CONFIG_READ', conf, line, col]], 'the same error from reload');
    t.same(await d.serving('web'), [pid], 'nothing changed');
  }

  // A good reload afterwards works at once: nothing is queued behind a hung read.
  const p2 = await port();
  writeFileSync(conf, good + [
    `  - name: second`,
    `    command: ${DEMO_CMD}`,
    `    healthcheck: /health`,
    `    external_host: 127.0.0.1`,
    `    external_port: ${p2}`,
  ].join('\n') + '\n');
  const r = await d.ctl('reload', '--json');
  t.equal(r.code, 0, `a later good reload works: ${r.stderr}`);
  t.same(JSON.parse(r.stdout).added, ['second']);
  t.same(await d.serving('web'), [pid], 'web untouched');
  t.equal((await get(p, '/')).status, 200);
  await d.waitServing('second');
  t.equal((await get(p2, '/')).status, 200, 'the added app serves');
});

t.test('YAML nested 4000 deep in two included files, given to reload, is GV_ERR_CONFIG_LIMIT and does not abort the daemon (fuzz/regressions/yaml-deep-flow-abort.yaml)', async (t) => {
  const d = Daemon.create(t);
  const { port: p, conf, good } = await oneAppDaemon(t, d);
  const [pid] = await d.serving('web');
  const inc = join(d.dir, 'inc');
  mkdirSync(inc);
  // Parsed twice in one process, this text made V8 abort (a fatal error, not an exception) before the depth bound.
  const deep = readFileSync(new URL('../../fuzz/regressions/yaml-deep-flow-abort.yaml', import.meta.url), 'utf8');
  writeFileSync(join(inc, 'a.yaml'), deep);
  writeFileSync(join(inc, 'b.yaml'), deep);
  writeFileSync(conf, `apps_include: ["${inc}/*.yaml"]\n` + good);
  const r = await d.ctl('reload', '--json');
  t.equal(r.code, 1, 'reload exits 1');
  const err = JSON.parse(r.stdout).error;
  const problems: { code: string; pos?: { file: string } }[] = err.errors ?? [err];
  t.ok(problems.some((e) => e.code === 'GV_ERR_CONFIG_LIMIT' && e.pos?.file.startsWith(inc)), 'a GV_ERR_CONFIG_LIMIT placed in an included file');
  t.ok(d.running && alive(d.pid), 'the daemon is alive');
  t.same(await d.serving('web'), [pid], 'nothing changed');
  t.equal((await get(p, '/')).status, 200, 'the app still answers');
});

t.test('deep nesting, a recursive alias and a glob over an unreadable folder are positioned GV_ERR_CONFIG_* errors from --check', async (t) => {
  const dir = tempDir(t);
  const cases: { name: string; file: string; text: string }[] = [
    { name: 'DSL a { a { … } } 10 000 deep', file: 'deep.conf', text: 'a { '.repeat(10_000) + '}'.repeat(10_000) + '\n' },
    { name: 'YAML [[[[…]]]] 10 000 deep', file: 'deep.yaml', text: 'apps: ' + '['.repeat(10_000) + ']'.repeat(10_000) + '\n' },
    { name: 'YAML recursive alias a: &a [*a]', file: 'alias.yaml', text: 'a: &a [*a]\n' },
  ];
  for (const c of cases) {
    const file = join(dir, c.file);
    writeFileSync(file, c.text);
    const r = await check(file);
    t.comment(`${c.name}: ${r.ms} ms, ${r.problems.map((x) => `${x.line}:${x.col} ${x.code}`).join('; ')}`);
    t.notOk(r.timedOut, `${c.name}: finished`);
    t.equal(r.code, 1, `${c.name}: exit 1`);
    t.ok(r.problems.length > 0, `${c.name}: a problem is printed`);
    for (const x of r.problems) {
      t.match(x.code, /^GV_ERR_CONFIG_/, `${c.name}: ${x.code} is a GV_ERR_CONFIG_* code`);
      t.equal(x.file, file, `${c.name}: placed in the file`);
      t.ok(x.line !== null && x.line >= 1 && x.col !== null && x.col >= 1, `${c.name}: with line and column`);
    }
  }

  const asRoot = process.getuid?.() === 0;
  t.test('a /** glob that meets an unreadable folder', { skip: asRoot ? 'running as root: root reads a mode-000 folder, so there is nothing unreadable to meet' : false }, async (t) => {
    const root = join(dir, 'tree');
    mkdirSync(join(root, 'locked'), { recursive: true });
    writeFileSync(join(root, 'a.yaml'), `name: a\ncommand: ${DEMO_CMD}\nexternal_port: ${await port()}\n`);
    chmodSync(join(root, 'locked'), 0o000);
    const file = join(dir, 'glob.yaml');
    writeFileSync(file, `apps_include: ["${root}/**"]\n`);
    const r = await check(file);
    t.equal(r.code, 1);
    t.same(r.problems.map((x) => [x.code, x.file, x.line, x.col]), [['GV_ERR_CONFIG_READ', file, 1, 16]]);
  });
});

t.test('durations of 2^31 ms and more are GV_ERR_CONFIG_RANGE at their position', async (t) => {
  const dir = tempDir(t);
  const yaml = join(dir, 'long.yaml');
  const yamlText = [
    'apps:',
    '  - name: web',
    `    command: ${DEMO_CMD}`,
    '    start_timeout: 25d',
    '    healthcheck:',
    '      path: /health',
    '      interval: 30d',
    '  - name: edge',
    `    command: ${DEMO_CMD}`,
    '    external_port: 8081',
    '    stop_timeout: 2147484s', // 2 147 484 000 ms > 2^31 - 1
    '    drain_timeout: 2147483s', // 2 147 483 000 ms: still under 2^31 - 1, fine
  ].join('\n') + '\n';
  writeFileSync(yaml, yamlText);
  const r = await check(yaml);
  t.equal(r.code, 1);
  t.same(r.problems.map((x) => [x.code, x.line, x.col]), [
    ['GV_ERR_CONFIG_RANGE', 4, 20],
    ['GV_ERR_CONFIG_RANGE', 7, 17],
    ['GV_ERR_CONFIG_RANGE', 11, 19],
  ], 'each at its value');

  const dsl = join(dir, 'long.conf');
  writeFileSync(dsl, [
    'app web {',
    `    command "${DEMO_CMD}";`,
    '    start_timeout 25d;',
    '    healthcheck /health { interval 30d; }',
    '}',
  ].join('\n') + '\n');
  const rd = await check(dsl);
  t.equal(rd.code, 1);
  t.same(rd.problems.map((x) => [x.code, x.line, x.col]), [
    ['GV_ERR_CONFIG_RANGE', 3, 19],
    ['GV_ERR_CONFIG_RANGE', 4, 36],
  ], 'the DSL too');
  t.ok(readFileSync(dsl, 'utf8').split('\n')[3]!.slice(35).startsWith('30d'), 'column 36 of line 4 is the 30d');
});
