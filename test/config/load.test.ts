import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { configToJson, runCheck } from '../../src/config/check.js';
import { loadAppFile, loadConfig } from '../../src/config/load.js';
import type { RuntimeInfo } from '../../src/config/defaults.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const seedDir = join(repo, 'test/fixtures/config/seed/conf');
const user: RuntimeInfo = { uid: 1000, env: {}, tmpdir: '/tmp' };

t.test('the original README example loads unchanged, with its folder include skipping itself', async (t) => {
  const config = await loadConfig(join(seedDir, 'gracevisor.yaml'), { runtime: user });
  t.same(config.port_range, { from: 10000, to: 11000 });
  t.equal(config.rpc.host, 'localhost');
  t.equal(config.rpc.port, 9001);
  t.equal(config.logger.log_dir, resolve(seedDir, '../log'), 'log_dir resolves against the config file folder');
  t.equal(config.logger.max_log_size, 500 * 1024 * 1024, 'a plain size is megabytes');
  t.equal(config.logger.max_logs_kept, null, '-1 keeps all logs');
  t.equal(config.logger.max_log_age, null, '-1 is no age limit');
  t.same(config.user, { username: 'root' });
  t.same(config.apps.map((a) => a.name), ['demo', 'worker'], 'apps from the main file first, then included ones');
  const demo = config.apps[0]!;
  t.equal(demo.command, '../demoapp/demoapp --port={port}');
  t.same(demo.user, { username: 'root' }, 'user is inherited from the global section');
  t.equal(demo.logger.stdout_log_file, join(resolve(seedDir, '../log'), 'app_demo.out'));
  t.equal(demo.logger.stderr_log_file, join(resolve(seedDir, '../log'), 'app_demo.err'));
  t.equal(demo.source.file, join(seedDir, 'gracevisor.yaml'));
  t.equal(demo.source.line, 21);
});

t.test('an included app keeps its own settings and inherits the rest', async (t) => {
  const config = await loadConfig(seedDir, { runtime: user });
  const worker = config.apps.find((a) => a.name === 'worker')!;
  t.same(worker.environment, ['PORT={port}', 'MODE=batch']);
  t.equal(worker.proxy, 'tcp');
  t.equal(worker.stop_signal, 'INT');
  t.equal(worker.start_timeout, 30_000, 'plain numbers are seconds');
  t.equal(worker.stop_timeout, 10_000);
  t.same(worker.user, { username: 'nobody' }, 'an app user overrides the global one');
  t.equal(worker.logger.log_file, resolve(seedDir, '../log/worker.log'));
  t.equal(worker.logger.stdout_log_file, resolve(seedDir, '../log/worker.log'), 'log_file takes both streams');
  t.equal(worker.logger.stderr_log_file, resolve(seedDir, '../log/worker.log'));
  t.equal(worker.logger.max_log_size, 100 * 1024 * 1024, 'an app size overrides the global one');
  t.equal(worker.logger.max_logs_kept, null, 'max_logs_kept is inherited');
  t.equal(worker.source.file, join(seedDir, 'worker.yaml'));
});

t.test('the demo setup in conf/ resolves to the same model and prints the same JSON in both syntaxes', async (t) => {
  const dsl = await loadConfig(join(repo, 'conf/gracevisor.conf'), { runtime: user });
  const yaml = await loadConfig(join(repo, 'conf/gracevisor.yaml'), { runtime: user });
  t.equal(configToJson(dsl), configToJson(yaml));
  const strip = (c: typeof dsl): unknown => ({ ...c, file: null, apps: c.apps.map((a) => ({ ...a, source: null })) });
  t.same(strip(dsl), strip(yaml));
  t.equal(dsl.apps.length, 1);
  const demo = dsl.apps[0]!;
  t.equal(demo.directory, repo, 'directory .. is the repo root');
  t.equal(demo.command, 'node examples/demoapp.mjs --port={port}');
  t.equal(demo.external_port, 8080);
  t.equal(demo.healthcheck?.type, 'http');
  t.equal(demo.healthcheck?.path, '/health');
  t.equal(dsl.run_dir, join(repo, 'run'));
  t.equal(dsl.rpc.socket, join(repo, 'run/gracevisord.sock'));
  t.equal(dsl.logger.log_dir, join(repo, 'log'));

  const a = await runCheck(join(repo, 'conf/gracevisor.conf'), { print: true });
  const b = await runCheck(join(repo, 'conf/gracevisor.yaml'), { print: true });
  t.equal(a.exitCode, 0);
  t.equal(b.exitCode, 0);
  t.equal(a.stdout, b.stdout, '--print output is identical');
  t.same(JSON.parse(a.stdout).apps[0].name, 'demo');
});

t.test('a folder with both files loads gracevisor.conf', async (t) => {
  const config = await loadConfig(join(repo, 'conf'), { runtime: user });
  t.equal(config.file, join(repo, 'conf/gracevisor.conf'));
  const dir = t.testdir({ 'gracevisor.yaml': 'apps: []\n', 'gracevisor.yml': 'port_range: [1, 2]\n' });
  t.equal((await loadConfig(dir, { runtime: user })).file, join(dir, 'gracevisor.yaml'), 'then .yaml before .yml');
});

t.test('an empty config takes every default', async (t) => {
  const dir = t.testdir({ 'gracevisor.yaml': '', 'gracevisor-empty.conf': '# nothing\n' });
  for (const f of ['gracevisor.yaml', 'gracevisor-empty.conf']) {
    const c = await loadConfig(join(dir, f), { runtime: user });
    t.same(c.port_range, { from: 10000, to: 11000 }, `${f}: port_range`);
    t.same(c.rpc, { socket: '/tmp/gracevisor-1000/gracevisord.sock', host: null, port: null, token: null, token_file: null }, `${f}: rpc is a unix socket only`);
    t.equal(c.run_dir, '/tmp/gracevisor-1000');
    t.same(c.logger, { log_dir: '/var/log/gracevisor', log_file: '/var/log/gracevisor/gracevisor.log', max_log_size: 500 * 1024 * 1024, max_logs_kept: null, max_log_age: null, log_format: 'prefixed' });
    t.equal(c.user, null);
    t.same(c.plugins, []);
    t.same(c.apps, []);
    t.ok(Object.isFrozen(c) && Object.isFrozen(c.logger) && Object.isFrozen(c.apps), 'the result is frozen');
  }
});

t.test('run_dir defaults to /run/gracevisor for root and XDG_RUNTIME_DIR for a user who has one', async (t) => {
  const dir = t.testdir({ 'gracevisor.yaml': '' });
  t.equal((await loadConfig(dir, { runtime: { uid: 0, env: {}, tmpdir: '/tmp' } })).run_dir, '/run/gracevisor');
  const xdg = await loadConfig(dir, { runtime: { uid: 1000, env: { XDG_RUNTIME_DIR: '/run/user/1000' }, tmpdir: '/tmp' } });
  t.equal(xdg.run_dir, '/run/user/1000/gracevisor');
  t.equal(xdg.rpc.socket, '/run/user/1000/gracevisor/gracevisord.sock');
});

t.test('an app takes every default the original README gives', async (t) => {
  const dir = t.testdir({ 'gracevisor.yaml': 'apps:\n  - name: a\n    command: run --port={port}\n' });
  const app = (await loadConfig(dir, { runtime: user })).apps[0]!;
  t.same(
    { ...app, source: null },
    {
      name: 'a',
      command: 'run --port={port}',
      environment: [],
      directory: null,
      healthcheck: null,
      internal_host: 'localhost',
      external_host: 'localhost',
      external_port: 8080,
      proxy: 'http',
      stop_signal: 'TERM',
      max_retries: 5,
      start_timeout: null,
      stop_timeout: null,
      drain_timeout: 30_000,
      instances: 1,
      queue_timeout: 10_000,
      upstream_timeout: 60_000,
      upstream_idle_timeout: 1_000,
      keepalive_timeout: 65_000,
      header_timeout: 10_000,
      max_header_size: 16 * 1024,
      max_connections: null,
      trusted_proxies: [],
      user: null,
      logger: {
        log_dir: '/var/log/gracevisor',
        log_file: null,
        max_log_size: 500 * 1024 * 1024,
        max_logs_kept: null,
        max_log_age: null,
        log_format: 'prefixed',
        stdout_log_file: '/var/log/gracevisor/app_a.out',
        stderr_log_file: '/var/log/gracevisor/app_a.err',
      },
      alerts: [],
      global_alerts: true,
      source: null,
    },
  );
});

t.test('durations and sizes take plain numbers and units', async (t) => {
  const dir = t.testdir({
    'gracevisor.conf': `
      logger { max_log_size 1G; max_log_age 7d; max_logs_kept 0; }
      app a {
        command "x {port}";
        start_timeout 500ms;
        stop_timeout 1.5;
        drain_timeout 1m30s;
        queue_timeout 0;
        instances 3;
        max_retries 0;
        header_timeout 2s;
        max_header_size 8K;
        logger { max_log_size 64K; stdout_log_file out.log; }
      }`,
  });
  const c = await loadConfig(dir, { runtime: user });
  t.equal(c.logger.max_log_size, 1024 ** 3);
  t.equal(c.logger.max_log_age, 7 * 86_400_000);
  t.equal(c.logger.max_logs_kept, 0);
  const a = c.apps[0]!;
  t.equal(a.start_timeout, 500);
  t.equal(a.stop_timeout, 1500);
  t.equal(a.drain_timeout, 90_000);
  t.equal(a.queue_timeout, 0);
  t.equal(a.instances, 3);
  t.equal(a.max_retries, 0);
  t.equal(a.header_timeout, 2_000);
  t.equal(a.max_header_size, 8 * 1024);
  t.equal(a.logger.max_log_size, 64 * 1024);
  t.equal(a.logger.max_log_age, 7 * 86_400_000, 'max_log_age is inherited');
  t.equal(a.logger.stdout_log_file, join(dir, 'out.log'), 'stdout_log_file resolves against the config folder');
  t.equal(a.logger.stderr_log_file, '/var/log/gracevisor/app_a.err', 'stderr keeps its default');
});

t.test('the DSL spellings map onto the YAML keys', async (t) => {
  const dir = t.testdir({
    'gracevisor.conf': `
      rpc { port 9100; token_file secret.txt; }
      user app;
      plugins ./p1.mjs some-package;
      plugins ../p2.mjs;
      app a {
        command 'a --port={port}';
        environment A=1 "B=two words";
        environment PORT={port};
        listen 127.0.0.1:9000;
        healthcheck http /health { interval 2s; timeout 1s; unhealthy_threshold 2; expect_status 200; }
        stop_signal sigquit;
        proxy tcp;
      }
      app b { command "b {port}"; listen 9001; healthcheck tcp; user { username other; } }
      app c { command "c {port}"; listen [::1]:9002; healthcheck { type exec; command "true"; interval 1s; } }`,
  });
  const c = await loadConfig(dir, { runtime: user });
  t.same(c.rpc, { socket: '/tmp/gracevisor-1000/gracevisord.sock', host: 'localhost', port: 9100, token: null, token_file: join(dir, 'secret.txt') }, 'naming rpc.port turns TCP on with the default host');
  t.same(c.user, { username: 'app' });
  t.same(c.plugins, [join(dir, 'p1.mjs'), 'some-package', resolve(dir, '../p2.mjs')], 'paths resolve, package names stay');
  const [a, b, cc] = c.apps;
  t.same(a!.environment, ['A=1', 'B=two words', 'PORT={port}'], 'environment directives accumulate');
  t.equal(a!.external_host, '127.0.0.1');
  t.equal(a!.external_port, 9000);
  t.same(a!.healthcheck, { type: 'http', interval: 2000, timeout: 1000, unhealthy_threshold: 2, expect_status: 200, path: '/health' });
  t.equal(a!.stop_signal, 'QUIT');
  t.equal(a!.proxy, 'tcp');
  t.same(a!.user, { username: 'app' });
  t.equal(b!.external_host, 'localhost');
  t.equal(b!.external_port, 9001);
  t.same(b!.healthcheck, { type: 'tcp', interval: 5000, timeout: 2000, unhealthy_threshold: 3 });
  t.same(b!.user, { username: 'other' });
  t.equal(cc!.external_host, '::1');
  t.same(cc!.healthcheck, { type: 'exec', interval: 1000, timeout: 2000, unhealthy_threshold: 3, command: 'true' });
});

t.test('YAML takes the shorthand forms too', async (t) => {
  const dir = t.testdir({
    'gracevisor.yaml': [
      'port_range: [20000, 20100]',
      'user: app',
      'plugins: ./one.mjs',
      'apps:',
      '  - name: a',
      '    command: a',
      '    environment: { PORT: "{port}", N: 1 }',
      '    healthcheck: { path: /ready, interval: 250ms }',
      '    directory: sub',
      '    stop_signal: SIGHUP',
      '',
    ].join('\n'),
  });
  const c = await loadConfig(dir, { runtime: user });
  t.same(c.port_range, { from: 20000, to: 20100 });
  t.same(c.user, { username: 'app' });
  t.same(c.plugins, [join(dir, 'one.mjs')]);
  const a = c.apps[0]!;
  t.same(a.environment, ['PORT={port}', 'N=1']);
  t.same(a.healthcheck, { type: 'http', interval: 250, timeout: 2000, unhealthy_threshold: 3, path: '/ready' });
  t.equal(a.directory, join(dir, 'sub'));
  t.equal(a.stop_signal, 'HUP');
});

t.test('loadAppFile reads one app in either syntax and inherits from a base config', async (t) => {
  const dir = t.testdir({
    'one.yaml': 'name: one\ncommand: one --port={port}\nexternal_port: 9100\n',
    'two.conf': 'name two;\ncommand "two {port}";\nlisten 9101;\nlogger { log_file two.log; }\n',
    'three.conf': 'app three { command "three {port}"; }\n',
    'many.conf': 'app x { command "x {port}"; }\napp y { command "y {port}"; }\n',
  });
  const base = await loadConfig(seedDir, { runtime: user });
  const one = await loadAppFile(join(dir, 'one.yaml'), { base });
  t.equal(one.name, 'one');
  t.same(one.user, { username: 'root' }, 'user from the base config');
  t.equal(one.logger.stdout_log_file, join(base.logger.log_dir, 'app_one.out'), 'log_dir from the base config');
  t.ok(Object.isFrozen(one));
  const two = await loadAppFile(join(dir, 'two.conf'));
  t.equal(two.external_port, 9101);
  t.equal(two.logger.stdout_log_file, join(dir, 'two.log'));
  t.equal(two.user, null);
  t.equal((await loadAppFile(join(dir, 'three.conf'))).name, 'three');
  await t.rejects(loadAppFile(join(dir, 'many.conf')), { code: 'GV_ERR_CONFIG_TYPE', errors: [{ code: 'GV_ERR_CONFIG_TYPE', pos: { line: 1, col: 1 } }] });
  await t.rejects(loadAppFile(join(dir, 'nope.yaml')), { code: 'GV_ERR_CONFIG_NOT_FOUND' });
  await t.rejects(loadAppFile(join(dir, 'one.yaml'), { registry: { engine: () => undefined, healthcheck: () => undefined } }), {
    code: 'GV_ERR_CONFIG_ENGINE_UNKNOWN',
  });
});

t.test('runCheck reports ok, or every error as file:line:col: CODE: message with exit 1, in line order', async (t) => {
  const dir = t.testdir({
    'ok.yaml': 'apps: []\n',
    'bad.yaml': 'port_range: {from: 0, to: 10}\napps:\n  - name: a\n    comand: x\n',
  });
  t.same(await runCheck(join(dir, 'ok.yaml'), { print: false }), { exitCode: 0, stdout: 'configuration ok\n', stderr: '' });
  const bad = await runCheck(join(dir, 'bad.yaml'), { print: false });
  t.equal(bad.exitCode, 1);
  t.equal(bad.stdout, '');
  const lines = bad.stderr.trimEnd().split('\n');
  t.same(
    lines.map((l) => /^(.+):(\d+):(\d+): (GV_ERR_[A-Z_]+): /.exec(l)?.slice(1, 5)),
    [
      [join(dir, 'bad.yaml'), '1', '20', 'GV_ERR_CONFIG_RANGE'],
      [join(dir, 'bad.yaml'), '3', '5', 'GV_ERR_CONFIG_REQUIRED'],
      [join(dir, 'bad.yaml'), '4', '5', 'GV_ERR_CONFIG_UNKNOWN_KEY'],
    ],
  );
  const missing = await runCheck(join(dir, 'nothing-here'), { print: true });
  t.equal(missing.exitCode, 1);
  t.match(missing.stderr, /^GV_ERR_CONFIG_NOT_FOUND: /);
});

t.test('the full example of the config reference in README.md means the same in both columns', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const readme = await readFile(join(repo, 'README.md'), 'utf8');
  const doc = readme.slice(readme.indexOf('A complete example, side by side'));
  const blocks = [...doc.matchAll(/```(yaml|nginx)\n([\s\S]*?)```/g)];
  const dir = t.testdir({ 'gracevisor.yaml': blocks[0]![2]!, 'gracevisor.conf': blocks[1]![2]! });
  const yaml = await loadConfig(join(dir, 'gracevisor.yaml'), { runtime: user });
  const dsl = await loadConfig(join(dir, 'gracevisor.conf'), { runtime: user });
  t.equal(configToJson(dsl), configToJson(yaml));
  t.equal(dsl.apps[0]!.instances, 2);
  t.equal(dsl.rpc.port, 9001);
  t.same(dsl.plugins, [join(dir, 'my-plugin.mjs'), 'gracevisor-alert-slack']);
  t.equal(dsl.logger.max_log_age, 7 * 86_400_000);
});

t.test('an empty app user or healthcheck in YAML means inherit and no check', async (t) => {
  const dir = t.testdir({ 'gracevisor.yaml': 'user: app\napps:\n  - name: a\n    command: a {port}\n    user:\n    healthcheck:\n    directory:\n' });
  const a = (await loadConfig(dir, { runtime: user })).apps[0]!;
  t.same(a.user, { username: 'app' });
  t.equal(a.healthcheck, null);
  t.equal(a.directory, null);
});

t.test('max_header_size takes a size in YAML too', async (t) => {
  const dir = t.testdir({ 'gracevisor.yaml': 'apps:\n  - name: a\n    command: x {port}\n    max_header_size: 32K\n' });
  t.equal((await loadConfig(dir, { runtime: user })).apps[0]!.max_header_size, 32 * 1024);
});
