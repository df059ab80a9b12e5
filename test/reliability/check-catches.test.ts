// Item 15 of the reliability issue: `--check` catches what it can know — shell syntax in a command,
// environment names that cannot be, a host that is not one, more instances than port_range holds —
// each at file:line:col with exit 1; a directory that does not exist is only a warning. And a
// reload to a config with shell syntax changes nothing.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get } from '../helpers/load.js';
import { check, Daemon, DEMO_CMD, port, setup, tempDir } from './fixtures/lib.js';
import { at } from './fixtures/hostile-cases.js';

setup(t);

const OPS: [string, string][] = [
  ['|', 'x --port={port} | tee l'],
  ['&&', 'x --port={port} && echo done'],
  [';', 'x --port={port} ; echo done'],
  ['`', 'x --port={port} `id`'],
  ['$(', 'x --port={port} $(id)'],
];

t.test('--check: shell syntax in a command is GV_ERR_CONFIG_COMMAND at the command (|, &&, ;, backticks, $(…)), in both syntaxes', async (t) => {
  const dir = tempDir(t);
  let yaml = 'apps:\n';
  let dsl = '';
  OPS.forEach(([, cmd], i) => {
    yaml += `  - name: a${i}\n    command: ${JSON.stringify(cmd)}\n    external_port: ${9100 + i}\n`;
    dsl += `app a${i} {\n    command ${JSON.stringify(cmd)};\n    listen ${9100 + i};\n}\n`;
  });
  for (const [name, text] of [['shell.yaml', yaml], ['shell.conf', dsl]] as const) {
    const file = join(dir, name);
    writeFileSync(file, text);
    const r = await check(file);
    t.equal(r.code, 1, `${name}: exit 1`);
    const want = OPS.map(([, cmd]) => {
      const p = at(text, JSON.stringify(cmd));
      return ['GV_ERR_CONFIG_COMMAND', file, p.line, p.col];
    });
    t.same(r.problems.map((x) => [x.code, x.file, x.line, x.col]), want, `${name}: one GV_ERR_CONFIG_COMMAND per command, each at its value (${OPS.map(([op]) => op).join(' ')})`);
  }
});

t.test('--check: environment names empty, with = or with spaces (YAML mapping form) are GV_ERR_CONFIG_TYPE at the key', async (t) => {
  const dir = tempDir(t);
  const text = `apps:\n  - name: web\n    command: ${DEMO_CMD}\n    environment:\n      "": a\n      "A=B": c\n      "A B": d\n      GOOD: e\n`;
  const file = join(dir, 'env.yaml');
  writeFileSync(file, text);
  const r = await check(file);
  t.equal(r.code, 1);
  t.same(r.problems.map((x) => [x.code, x.line, x.col]), ['""', '"A=B"', '"A B"'].map((k) => ['GV_ERR_CONFIG_TYPE', at(text, k).line, at(text, k).col]));
});

t.test('--check: an external_host that is not a host is GV_ERR_CONFIG_TYPE; instances beyond port_range GV_ERR_CONFIG_RANGE', async (t) => {
  const dir = tempDir(t);
  const text = [
    'port_range: { from: 20000, to: 20003 }',
    'apps:',
    '  - name: web',
    `    command: ${DEMO_CMD}`,
    '    external_host: "bad host!"',
    '  - name: many',
    `    command: ${DEMO_CMD}`,
    '    external_port: 9201',
    '    instances: 4',
    '  - name: fits',
    `    command: ${DEMO_CMD}`,
    '    external_port: 9202',
    '    instances: 3',
  ].join('\n') + '\n';
  const file = join(dir, 'hosts.yaml');
  writeFileSync(file, text);
  const r = await check(file);
  t.equal(r.code, 1);
  t.same(r.problems.map((x) => [x.code, x.line, x.col]), [
    ['GV_ERR_CONFIG_TYPE', at(text, '"bad host!"').line, at(text, '"bad host!"').col],
    ['GV_ERR_CONFIG_RANGE', at(text, 'instances: 4').line, at(text, 'instances: 4').col + 'instances: '.length],
  ], 'bad host at its value; 4 instances (5 ports with a restart) do not fit 4 ports, 3 do');
});

t.test('--check: a directory that does not exist is a warning (GV_ERR_CONFIG_DIRECTORY), exit 0', async (t) => {
  const dir = tempDir(t);
  const text = `apps:\n  - name: web\n    command: ${DEMO_CMD}\n    directory: ${join(dir, 'not-there')}\n`;
  const file = join(dir, 'dir.yaml');
  writeFileSync(file, text);
  const r = await check(file);
  t.equal(r.code, 0, 'exit 0');
  t.equal(r.stdout, 'configuration ok\n');
  const w = r.problems.filter((x) => x.warning);
  t.same(w.map((x) => [x.code, x.file, x.line, x.col]), [['GV_ERR_CONFIG_DIRECTORY', file, 4, 16]], 'one warning: line on stderr, at the directory');
  t.match(r.stderr, /^warning: /m);
});

t.test('reload to a config with shell syntax in a command answers GV_ERR_CONFIG_COMMAND and changes nothing', async (t) => {
  const d = Daemon.create(t);
  const p = await port();
  const app = (cmd: string): string => [
    '  - name: web',
    `    command: ${cmd}`,
    '    healthcheck: /health',
    '    external_host: 127.0.0.1',
    `    external_port: ${p}`,
    '    stop_timeout: 5s',
  ].join('\n') + '\n';
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + app(DEMO_CMD));
  await d.start(conf);
  const [pid] = await d.waitServing('web');
  const broken = d.yamlTop() + 'apps:\n' + app(JSON.stringify(`${DEMO_CMD} | tee /tmp/x`));
  writeFileSync(conf, broken);
  const r = await d.ctl('reload', '--json');
  t.equal(r.code, 1, 'reload exits 1');
  const err = JSON.parse(r.stdout).error;
  const pos = at(broken, JSON.stringify(`${DEMO_CMD} | tee /tmp/x`));
  t.same((err.errors ?? [err]).map((e: any) => [e.code, e.pos?.file, e.pos?.line, e.pos?.col]), [['GV_ERR_CONFIG_COMMAND', conf, pos.line, pos.col]], 'GV_ERR_CONFIG_COMMAND at the command');
  t.same(await d.serving('web'), [pid], 'the app keeps its pid');
  const g = await get(p, '/');
  t.equal(g.status, 200);
  t.equal(g.pid, pid, 'and serves from it');
});
