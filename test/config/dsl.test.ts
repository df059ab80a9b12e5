import t from 'tap';
import { loadDslAppFile, loadDslMain, parseDsl } from '../../src/config/dsl-loader.js';
import { rawToPlain, type RawMap } from '../../src/config/raw.js';

const plain = (m: RawMap | null): unknown => (m ? rawToPlain(m) : null);

t.test('the grammar reads directives, blocks, comments, quoted strings with escapes and bare words', async (t) => {
  const res = parseDsl(
    [
      '# a comment line',
      'a b "c d" \'e\\\'f\' "g\\"h\\\\i\\n" x#y; # trailing comment',
      'blk {',
      '  inner 1.5 -2 PORT={port} --port={port} localhost:8080 500ms /var/log/x.log;',
      '  nested { deep; }',
      '}',
    ].join('\n'),
    'f.conf',
  );
  t.same(res.errors, []);
  const [a, blk] = res.value!;
  t.same(a!.args.map((x) => [x.value, x.quoted]), [['b', false], ['c d', true], ["e'f", true], ['g"h\\i\n', true], ['x#y', false]]);
  t.same(a!.nameLoc, { line: 2, col: 1, offset: 17 });
  t.same(a!.args[1]!.loc, { line: 2, col: 5, offset: 21 });
  t.equal(a!.block, null);
  t.same(blk!.block!.map((d) => d.name), ['inner', 'nested']);
  t.same(blk!.block![0]!.args.map((x) => x.value), ['1.5', '-2', 'PORT={port}', '--port={port}', 'localhost:8080', '500ms', '/var/log/x.log']);
  const deep = blk!.block![1]!.block![0]!;
  t.same([deep.name, deep.nameLoc.line, deep.nameLoc.col, deep.args, deep.block], ['deep', 5, 12, [], null]);
});

t.test('generic directives map to scalars, lists, true and mappings; numbers only when unquoted', async (t) => {
  const res = loadDslMain('rpc { host h; port 9001; token "123"; }\nlogger { max_log_size 5M; }\nflagged;\nlisty 1 two;\n', 'f.conf');
  t.same(res.errors, []);
  t.same(plain(res.value), { rpc: { host: 'h', port: 9001, token: '123' }, logger: { max_log_size: '5M' }, flagged: true, listy: [1, 'two'] });
});

t.test('app blocks, include and plugins accumulate into the YAML keys', async (t) => {
  const res = loadDslMain('include a.d/*.conf;\nplugins p1;\napp x { command "x"; }\ninclude b.yaml c;\nplugins p2 p3;\napp y { command "y"; }\n', 'f.conf');
  t.same(res.errors, []);
  t.same(plain(res.value), {
    apps_include: ['a.d/*.conf', 'b.yaml', 'c'],
    plugins: ['p1', 'p2', 'p3'],
    apps: [{ name: 'x', command: 'x' }, { name: 'y', command: 'y' }],
  });
});

t.test('healthcheck and listen spellings map to the YAML keys', async (t) => {
  const res = loadDslMain(
    [
      'app a { healthcheck /h; listen h:1; }',
      'app b { healthcheck http /h { interval 2s; } listen [::]:2; }',
      'app c { healthcheck /h { timeout 1s; } listen 3; }',
      'app d { healthcheck tcp; listen :4; }',
      'app e { healthcheck { type exec; command "x"; } }',
      'app f { listen *:5; }',
      '',
    ].join('\n'),
    'f.conf',
  );
  t.same(res.errors, []);
  t.same((plain(res.value) as { apps: unknown[] }).apps, [
    { name: 'a', healthcheck: '/h', external_host: 'h', external_port: 1 },
    { name: 'b', healthcheck: { type: 'http', path: '/h', interval: '2s' }, external_host: '::', external_port: 2 },
    { name: 'c', healthcheck: { path: '/h', timeout: '1s' }, external_port: 3 },
    { name: 'd', healthcheck: { type: 'tcp' }, external_port: 4 },
    { name: 'e', healthcheck: { type: 'exec', command: 'x' } },
    { name: 'f', external_host: '0.0.0.0', external_port: 5 },
  ]);
});

t.test('malformed DSL spellings are errors at their position', async (t) => {
  const cases: [string, string, number, number][] = [
    ['app { command "x"; }\napp;\n', 'GV_ERR_CONFIG_TYPE', 2, 1],
    ['app a b { }\n', 'GV_ERR_CONFIG_TYPE', 1, 7],
    ['app a { name b; }\n', 'GV_ERR_CONFIG_DUPLICATE_KEY', 1, 9],
    ['app a { listen; }\n', 'GV_ERR_CONFIG_TYPE', 1, 9],
    ['app a { listen 1 2; }\n', 'GV_ERR_CONFIG_TYPE', 1, 9],
    ['include { }\n', 'GV_ERR_CONFIG_TYPE', 1, 1],
    ['logger x { }\n', 'GV_ERR_CONFIG_TYPE', 1, 8],
    ['app a { healthcheck http /h { path /x; } }\n', 'GV_ERR_CONFIG_DUPLICATE_KEY', 1, 31],
    ['rpc { port 1; port 2; }\n', 'GV_ERR_CONFIG_DUPLICATE_KEY', 1, 15],
  ];
  for (const [text, code, line, col] of cases) {
    const res = loadDslMain(text, 'f.conf');
    t.same(res.errors.map((e) => [e.code, e.pos?.line, e.pos?.col]).slice(0, 1), [[code, line, col]], JSON.stringify(text));
  }
});

t.test('an app file holds app blocks and includes, or one app body', async (t) => {
  const blocks = loadDslAppFile('app a { command "a"; }\ninclude more/*.conf;\napp b { command "b"; }\n', 'f.conf');
  t.same(blocks.errors, []);
  t.same(blocks.value!.apps.map((m) => rawToPlain(m)), [{ name: 'a', command: 'a' }, { name: 'b', command: 'b' }]);
  t.same(blocks.value!.includes.map((s) => s.value), ['more/*.conf']);
  const body = loadDslAppFile('name a;\ncommand "a";\nenvironment X=1;\nenvironment Y=2;\n', 'f.conf');
  t.same(body.value!.apps.map((m) => rawToPlain(m)), [{ name: 'a', command: 'a', environment: ['X=1', 'Y=2'] }]);
  const mixed = loadDslAppFile('app a { command "a"; }\ncommand "b";\n', 'f.conf');
  t.same(mixed.errors.map((e) => [e.code, e.pos?.line, e.pos?.col]), [['GV_ERR_CONFIG_UNKNOWN_KEY', 2, 1]]);
  const bad = loadDslAppFile('app a {', 'f.conf');
  t.equal(bad.value, null);
  t.same(bad.errors.map((e) => e.code), ['GV_ERR_CONFIG_SYNTAX']);
});
