import t from 'tap';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Registry } from '../../src/plugins/registry.js';
import { Hooks } from '../../src/plugins/hooks.js';
import { loadPlugins } from '../../src/plugins/loader.js';
import type { GvConfigError } from '../../src/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = (name: string): string => join(here, 'fixtures', name);
const pos = { file: join(here, 'gracevisor.conf'), line: 3, col: 9 };

t.test('the example plugin loads by path and its health check and alerter work', async (t) => {
  const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
  const hooks = new Hooks({ log: (_l, msg, fields) => logs.push({ msg, ...(fields && { fields }) }) });
  const registry = new Registry({ hooks });
  const loaded = await loadPlugins(registry, [{ spec: resolve(here, '../../examples/plugin-example/index.mjs'), pos }]);
  t.same(loaded.map((p) => p.name), ['gracevisor-plugin-example']);
  t.same(registry.list().map((e) => e.id), ['alerters.file', 'healthchecks.body']);

  const server = http.createServer((req, res) => res.end(req.url === '/ok' ? 'all good here' : 'nope'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const target = { id: 'demo#1', host: '127.0.0.1', port: (server.address() as AddressInfo).port };
  const body = registry.healthcheck('body')!;
  const parsed = body.parse!({ path: '/ok', contains: 'good' }, pos);
  const check = { type: 'body', interval: 1000, timeout: 1000, unhealthy_threshold: 1, ...parsed };
  t.equal((await body.probe(target, check, AbortSignal.timeout(5_000))).ok, true);
  t.equal((await body.probe(target, { ...check, path: '/bad' }, AbortSignal.timeout(5_000))).ok, false);

  const dir = t.testdir({});
  const alertFile = join(dir, 'alerts.jsonl');
  const file = registry.alerter('file')!;
  t.throws(() => file.parse!({ path: alertFile, colour: 'red' }, pos), 'its parser rejects an unknown option');
  const alerter = file.create(file.parse!({ path: alertFile }, pos), () => {});
  await alerter.send({ event: 'app_fatal', app: 'demo', instance: null, at: new Date().toISOString(), error: { code: 'GV_ERR_START_FAILED', message: 'x' } }, AbortSignal.timeout(5_000));
  const { readFileSync } = await import('node:fs');
  t.match(JSON.parse(readFileSync(alertFile, 'utf8').trim()), { event: 'app_fatal', app: 'demo', error: { code: 'GV_ERR_START_FAILED' } });

  await hooks.emit('onInstanceReady', 'demo', { instance: { app: 'demo', id: 'demo#1', pid: 1, port: 1, state: 'serving' }, readyMs: 5 });
  t.match(logs, [{ fields: { plugin: 'gracevisor-plugin-example', instance: 'demo#1' } }], 'its hook ran with a tagged logger');
});

t.test('a package name is resolved from the config file\'s folder', async (t) => {
  const dir = t.testdir({});
  const pkg = join(dir, 'node_modules', 'gv-fixture-plugin');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'gv-fixture-plugin', type: 'module', main: 'index.js' }));
  writeFileSync(join(pkg, 'index.js'), "export default { name: 'from-package', apiVersion: 1 };\n");
  const registry = new Registry();
  const loaded = await loadPlugins(registry, [{ spec: 'gv-fixture-plugin', pos: { file: join(dir, 'gracevisor.yaml'), line: 1, col: 1 } }]);
  t.same(loaded.map((p) => p.name), ['from-package']);
  t.ok(registry.has('from-package'));
});

t.test('a default export that is a function, or a named plugin export, is accepted', async (t) => {
  const registry = new Registry();
  const loaded = await loadPlugins(registry, [{ spec: fixture('factory.mjs'), pos }, { spec: fixture('named.mjs'), pos }]);
  t.same(loaded.map((p) => p.name), ['factory-plugin', 'named-plugin']);
  t.ok(registry.alerter('noop'));
});

t.test('plugins that fail to load are config errors at their position; the good ones still register', async (t) => {
  const registry = new Registry();
  const specs = [
    { spec: fixture('missing.mjs'), pos: { ...pos, line: 1 } },
    { spec: fixture('throws-on-import.mjs'), pos: { ...pos, line: 2 } },
    { spec: fixture('no-plugin.mjs'), pos: { ...pos, line: 3 } },
    { spec: fixture('bad-api.mjs'), pos: { ...pos, line: 4 } },
    { spec: 'gv-no-such-package-anywhere', pos: { ...pos, line: 5 } },
    { spec: fixture('named.mjs'), pos: { ...pos, line: 6 } },
  ];
  const err = await loadPlugins(registry, specs).then(() => null, (e: unknown) => e as GvConfigError);
  t.ok(err, 'rejected');
  t.equal(err!.code, 'GV_ERR_CONFIG_PLUGIN_LOAD');
  t.same(err!.errors.map((e) => [e.code, e.pos?.line]), [1, 2, 3, 4, 5].map((line) => ['GV_ERR_CONFIG_PLUGIN_LOAD', line]));
  t.equal(err!.errors[3]!.details!.code, 'GV_ERR_PLUGIN_API_VERSION', 'the registry\'s own code is kept in details');
  t.equal(err!.errors[3]!.details!.plugin, 'future-plugin');
  t.ok(registry.has('named-plugin'), 'the plugin that loaded was registered');
});
