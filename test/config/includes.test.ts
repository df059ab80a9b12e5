import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import type { RuntimeInfo } from '../../src/config/defaults.js';
import { GvConfigError } from '../../src/errors.js';

const runtime: RuntimeInfo = { uid: 1000, env: {}, tmpdir: '/tmp' };

const yamlApp = (name: string, port: number, extra = ''): string => `name: ${name}\ncommand: ${name} --port={port}\nexternal_port: ${port}\n${extra}`;
const dslApp = (name: string, port: number, extra = ''): string => `app ${name} {\n  command "${name} --port={port}";\n  listen ${port};\n${extra}}\n`;

t.test('apps_include takes files, folders and globs, in order, and a folder takes only app files', async (t) => {
  const dir = t.testdir({
    main: {
      'gracevisor.yaml': 'apps_include:\n  - one.yaml\n  - ../folder\n  - "globbed/*.conf"\n',
      'one.yaml': yamlApp('one', 9001),
      globbed: { 'g1.conf': dslApp('g1', 9011), 'g2.conf': 'name g2;\ncommand "g2 {port}";\nlisten 9012;\n', 'skip.yaml': yamlApp('skip', 9013) },
    },
    folder: { 'b.yml': yamlApp('b', 9003), 'a.yaml': yamlApp('a', 9002), 'c.conf': dslApp('c', 9004), 'notes.txt': 'not an app', sub: { 'deep.yaml': yamlApp('deep', 9005) } },
  });
  const c = await loadConfig(join(dir, 'main'), { runtime });
  t.same(c.apps.map((a) => a.name), ['one', 'a', 'b', 'c', 'g1', 'g2'], 'folder files sorted by name, not recursive; the glob only matches .conf');
  t.equal(c.apps.find((a) => a.name === 'a')!.source.file, join(dir, 'folder/a.yaml'));
});

t.test('a folder include beside the main config skips the main config itself', async (t) => {
  const dir = t.testdir({ conf: { 'gracevisor.conf': 'include ../conf;\n', 'app.conf': dslApp('x', 9001) } });
  const c = await loadConfig(join(dir, 'conf'), { runtime });
  t.same(c.apps.map((a) => a.name), ['x']);
});

t.test('a glob that matches the including file skips it too', async (t) => {
  const dir = t.testdir({ 'gracevisor.conf': 'include *.conf;\n', 'web.conf': dslApp('web', 9001) });
  const c = await loadConfig(join(dir, 'gracevisor.conf'), { runtime });
  t.same(c.apps.map((a) => a.name), ['web']);
});

t.test('a glob that matches nothing is fine', async (t) => {
  const dir = t.testdir({ 'gracevisor.conf': 'include apps.d/*.conf;\n' });
  t.same((await loadConfig(dir, { runtime })).apps, []);
});

t.test('relative paths inside an included file resolve against that file, not the main one', async (t) => {
  const dir = t.testdir({
    'gracevisor.conf': 'include sub/apps/*.conf;\nlogger { log_dir logs; }\n',
    sub: {
      apps: {
        'x.conf': 'app x {\n  command "x {port}";\n  directory ../work;\n  logger { log_file x.log; }\n}\ninclude more/y.yaml;\n',
        more: { 'y.yaml': yamlApp('y', 9002, 'directory: .\n') },
      },
    },
  });
  const c = await loadConfig(dir, { runtime });
  const [x, y] = c.apps;
  t.equal(x!.directory, join(dir, 'sub/work'));
  t.equal(x!.logger.log_file, join(dir, 'sub/apps/x.log'));
  t.equal(x!.logger.log_dir, join(dir, 'logs'), 'the inherited log_dir stays relative to the main file');
  t.equal(y!.name, 'y', 'a DSL app file may include further app files');
  t.equal(y!.directory, join(dir, 'sub/apps/more'));
});

t.test('an included folder holding an includer of the main folder is not a cycle', async (t) => {
  const dir = t.testdir({
    a: { 'gracevisor.conf': 'include ../b;\n' },
    b: { 'b.conf': 'app b { command "b {port}"; listen 9001; }\ninclude ../a;\n' },
  });
  const c = await loadConfig(join(dir, 'a'), { runtime });
  t.same(c.apps.map((x) => x.name), ['b'], 'folders skip files already being loaded');
});

t.test('a problem in an included file is reported beside problems in the main file, the main file first', async (t) => {
  const dir = t.testdir({
    'gracevisor.yaml': 'apps_include: [apps]\nrpc: {port: x}\n',
    apps: { 'a.yaml': 'name: a\ncommand: a {port}\nexternal_port: 99999\n', 'b.conf': 'app b { command "b {port}"; listen 9001 }\n' },
  });
  const err = await loadConfig(dir, { runtime }).catch((e: unknown) => e);
  t.type(err, GvConfigError);
  t.same(
    (err as GvConfigError).errors.map((e) => [e.code, e.pos?.file.slice(dir.length + 1), e.pos?.line, e.pos?.col]),
    [
      ['GV_ERR_CONFIG_TYPE', 'gracevisor.yaml', 2, 13],
      ['GV_ERR_CONFIG_RANGE', 'apps/a.yaml', 3, 16],
      ['GV_ERR_CONFIG_SYNTAX', 'apps/b.conf', 1, 41],
    ],
  );
});

t.test('the same app included twice is a duplicate app', async (t) => {
  const dir = t.testdir({ 'gracevisor.yaml': 'apps_include: [a.yaml, ./a.yaml]\n', 'a.yaml': yamlApp('a', 9001) });
  await t.rejects(loadConfig(dir, { runtime }), { code: 'GV_ERR_CONFIG_DUPLICATE_APP', pos: { file: join(dir, 'a.yaml'), line: 1, col: 7 } });
});
