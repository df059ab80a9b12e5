import { join } from 'node:path';
import t from 'tap';
import { loadConfig, type ConfigRegistryView, type PluginLoadSpec } from '../../src/config/load.js';
import type { RuntimeInfo } from '../../src/config/defaults.js';
import { GvConfigError, GvError } from '../../src/errors.js';
import { loadPlugins } from '../../src/plugins/loader.js';
import { Registry } from '../../src/plugins/registry.js';

const runtime: RuntimeInfo = { uid: 1000, env: {}, tmpdir: '/tmp' };

/** A registry view over plain maps that plugins "register" into, as the real registry would. */
function fakeRegistry(): { view: ConfigRegistryView; engines: Map<string, { available: boolean; reason: string | null }>; checks: Map<string, { parse?: (o: Record<string, unknown>) => Record<string, unknown> }> } {
  const engines = new Map([['http', { available: true, reason: null }]]);
  const checks = new Map<string, { parse?: (o: Record<string, unknown>) => Record<string, unknown> }>([['http', {}]]);
  return { view: { engine: (n) => engines.get(n), healthcheck: (n) => checks.get(n) }, engines, checks };
}

t.test('plugins are loaded with resolved specs before engines and healthcheck types are checked', async (t) => {
  const dir = t.testdir({
    'gracevisor.conf': 'plugins ./quic.mjs gracevisor-redis;\napp a {\n  command "a {port}";\n  proxy quic;\n  healthcheck redis { db 2; }\n}\n',
  });
  const reg = fakeRegistry();
  const seen: PluginLoadSpec[] = [];
  const config = await loadConfig(dir, {
    runtime,
    registry: reg.view,
    loadPlugins: async (specs) => {
      seen.push(...specs);
      reg.engines.set('quic', { available: true, reason: null });
      reg.checks.set('redis', { parse: (o) => ({ ping: true, db: Number(o.db) }) });
    },
  });
  t.same(seen, [
    { spec: join(dir, 'quic.mjs'), pos: { file: join(dir, 'gracevisor.conf'), line: 1, col: 9 } },
    { spec: 'gracevisor-redis', pos: { file: join(dir, 'gracevisor.conf'), line: 1, col: 20 } },
  ]);
  t.equal(config.apps[0]!.proxy, 'quic');
  t.same(config.apps[0]!.healthcheck, { type: 'redis', interval: 5000, timeout: 2000, unhealthy_threshold: 3, db: 2, ping: true }, "the type's parser normalises its options, keys sorted");
  t.same(Object.keys(config.apps[0]!.healthcheck!), ['type', 'interval', 'timeout', 'unhealthy_threshold', 'db', 'ping']);
});

t.test('loadPlugins is not called when the config names no plugins', async (t) => {
  const dir = t.testdir({ 'gracevisor.yaml': 'apps: []\n' });
  let called = false;
  await loadConfig(dir, { runtime, loadPlugins: async () => { called = true; } });
  t.equal(called, false);
});

t.test('a plugin that fails to load is a config error at its entry, beside other problems', async (t) => {
  const dir = t.testdir({ 'gracevisor.yaml': 'plugins:\n  - ./good.mjs\n  - ./bad.mjs\napps:\n  - name: a\n    command: a {port}\n    proxy: nope\n' });
  const err = await loadConfig(dir, {
    runtime,
    registry: fakeRegistry().view,
    loadPlugins: async (specs) => {
      const bad = specs.find((s) => s.spec.endsWith('bad.mjs'))!;
      throw new GvConfigError([new GvError('GV_ERR_CONFIG_PLUGIN_LOAD', 'boom', { pos: bad.pos, details: { spec: bad.spec } })]);
    },
  }).catch((e: unknown) => e);
  t.type(err, GvConfigError);
  t.same((err as GvConfigError).errors.map((e) => [e.code, e.pos?.line, e.pos?.col]), [
    ['GV_ERR_CONFIG_PLUGIN_LOAD', 3, 5],
    ['GV_ERR_CONFIG_ENGINE_UNKNOWN', 7, 5],
  ]);
});

t.test('a plain error from loadPlugins lands on the entry it names, or the first entry', async (t) => {
  const dir = t.testdir({ 'gracevisor.conf': 'plugins a b;\n' });
  await t.rejects(loadConfig(dir, { runtime, loadPlugins: async () => { throw new Error('cannot'); } }), {
    code: 'GV_ERR_CONFIG_PLUGIN_LOAD',
    pos: { line: 1, col: 9 },
  });
  await t.rejects(loadConfig(dir, { runtime, loadPlugins: async () => { throw new GvError('GV_ERR_PLUGIN_INVALID', 'bad shape', { details: { spec: 'b' } }); } }), {
    code: 'GV_ERR_CONFIG_PLUGIN_LOAD',
    pos: { line: 1, col: 11 },
    errors: [{ details: { spec: 'b', code: 'GV_ERR_PLUGIN_INVALID' } }],
  });
});

t.test('with the real registry and plugin loader, a plugin file from the config provides an engine and a check type', async (t) => {
  const dir = t.testdir({
    'plugin.mjs': `export default {
      name: 'test-config-plugin',
      apiVersion: 1,
      engines: { quic: { description: 'a test engine', create() { throw new Error('not in this test'); } } },
      healthchecks: {
        redis: {
          description: 'a test check',
          parse(options) {
            if (typeof options.db !== 'number') throw new Error('db must be a number');
            return { db: options.db };
          },
          async probe() { return { ok: true, detail: 'ok' }; },
        },
      },
    };\n`,
    'gracevisor.conf': 'plugins ./plugin.mjs;\napp a {\n  command "a {port}";\n  proxy quic;\n  healthcheck redis { db 1; }\n}\n',
    'bad-db.conf': 'plugins ./plugin.mjs;\napp a {\n  command "a {port}";\n  proxy quic;\n  healthcheck redis { db one; }\n}\n',
    'missing.conf': '\nplugins ./nowhere.mjs;\n',
  });
  const fresh = (): { registry: ConfigRegistryView; loadPlugins: (s: PluginLoadSpec[]) => Promise<void> } => {
    const registry = new Registry();
    return { registry: registry.configView(), loadPlugins: async (specs) => { await loadPlugins(registry, specs); } };
  };
  const config = await loadConfig(join(dir, 'gracevisor.conf'), { runtime, ...fresh() });
  t.equal(config.apps[0]!.proxy, 'quic');
  t.equal(config.apps[0]!.healthcheck?.db, 1);
  await t.rejects(loadConfig(join(dir, 'bad-db.conf'), { runtime, ...fresh() }), { code: 'GV_ERR_CONFIG_HEALTHCHECK', pos: { line: 5, col: 3 } });
  await t.rejects(loadConfig(join(dir, 'missing.conf'), { runtime, ...fresh() }), { code: 'GV_ERR_CONFIG_PLUGIN_LOAD', pos: { line: 2, col: 9 } });
});
