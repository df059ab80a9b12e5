import t from 'tap';
import { Registry } from '../../src/plugins/registry.js';
import { Hooks } from '../../src/plugins/hooks.js';
import { definePlugin } from '../../src/plugins/define.js';
import { builtinPlugins } from '../../src/builtins.js';
import { enginesPlugin } from '../../src/engines/index.js';
import type { Plugin } from '../../src/plugins/types.js';
import type { EngineDefinition } from '../../src/plugins/engine.js';

const fakeEngine: EngineDefinition = { description: 'fake', create: () => { throw new Error('not used'); } };
const probe = async () => ({ ok: true, detail: 'fine' });

t.test('the built-in plugins register with namespaced ids and list sorted', async (t) => {
  const r = new Registry();
  for (const p of builtinPlugins) r.register(p);
  const ids = r.list().map((e) => e.id);
  t.same(ids, [...ids].sort(), 'sorted by id');
  for (const id of ['alerters.log', 'alerters.webhook', 'engines.http', 'engines.http_js', 'engines.splice', 'engines.tcp', 'healthchecks.exec', 'healthchecks.http', 'healthchecks.tcp']) {
    t.ok(ids.includes(id), id);
  }
  const http = r.list().find((e) => e.id === 'engines.http')!;
  t.same(http, { id: 'engines.http', kind: 'engines', plugin: 'gracevisor:engines', description: http.description, available: true, reason: null });
  t.equal(r.engine('http'), enginesPlugin.engines.http);
  t.equal(r.get('engines', 'tcp'), enginesPlugin.engines.tcp);
  t.ok(r.healthcheck('exec'));
  t.ok(r.alerter('webhook'));
  t.equal(r.engine('nope'), undefined);
  t.equal(r.pluginOf('healthchecks.tcp'), 'gracevisor:healthchecks');
  t.same(r.engineInfo('http'), { available: true, reason: null });
  t.equal(r.engineInfo('nope'), undefined);
  t.same(r.configView().engine('tcp'), { available: true, reason: null });
  t.throws(() => r.require('engines', 'nope'), { code: 'GV_ERR_PLUGIN_NOT_FOUND' });
});

t.test('an engine that reports itself unavailable is listed with its reason', async (t) => {
  const r = new Registry();
  r.register(definePlugin({ name: 'p', apiVersion: 1, engines: {
    gone: { ...fakeEngine, unavailable: () => 'no native part here' },
    broken: { ...fakeEngine, unavailable: () => { throw new Error('probe crashed'); } },
  } }));
  t.same(r.engineInfo('gone'), { available: false, reason: 'no native part here' });
  t.same(r.engineInfo('broken'), { available: false, reason: 'probe crashed' });
  t.equal(r.list().find((e) => e.id === 'engines.gone')!.available, false);
});

const bad: [string, string, unknown][] = [
  ['not an object', 'GV_ERR_PLUGIN_INVALID', 42],
  ['null', 'GV_ERR_PLUGIN_INVALID', null],
  ['missing name', 'GV_ERR_PLUGIN_NO_NAME', { apiVersion: 1 }],
  ['empty name', 'GV_ERR_PLUGIN_NO_NAME', { name: ' ', apiVersion: 1 }],
  ['wrong apiVersion', 'GV_ERR_PLUGIN_API_VERSION', { name: 'p', apiVersion: 2 }],
  ['missing apiVersion', 'GV_ERR_PLUGIN_API_VERSION', { name: 'p' }],
  ['unknown top-level key', 'GV_ERR_PLUGIN_INVALID', { name: 'p', apiVersion: 1, engine: {} }],
  ['unknown hook', 'GV_ERR_PLUGIN_UNKNOWN_HOOK', { name: 'p', apiVersion: 1, hooks: { onInstanceExploded() {} } }],
  ['hook handler not a function', 'GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', { name: 'p', apiVersion: 1, hooks: { onAppAdded: 'x' } }],
  ['hook entry without handler', 'GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', { name: 'p', apiVersion: 1, hooks: { onAppAdded: { order: 'pre' } } }],
  ['hook entry with a bad order', 'GV_ERR_PLUGIN_INVALID', { name: 'p', apiVersion: 1, hooks: { onAppAdded: { handler() {}, order: 'first' } } }],
  ['engine create not a function', 'GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', { name: 'p', apiVersion: 1, engines: { e: { description: 'd', create: 1 } } }],
  ['healthcheck probe not a function', 'GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', { name: 'p', apiVersion: 1, healthchecks: { h: { description: 'd' } } }],
  ['healthcheck parse not a function', 'GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', { name: 'p', apiVersion: 1, healthchecks: { h: { description: 'd', probe, parse: 'x' } } }],
  ['alerter create not a function', 'GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', { name: 'p', apiVersion: 1, alerters: { a: { description: 'd', create: null } } }],
  ['definition without description', 'GV_ERR_PLUGIN_INVALID', { name: 'p', apiVersion: 1, engines: { e: { create() {} } } }],
  ['engines not an object', 'GV_ERR_PLUGIN_INVALID', { name: 'p', apiVersion: 1, engines: [] }],
  ['a bad id key', 'GV_ERR_PLUGIN_INVALID', { name: 'p', apiVersion: 1, engines: { 'a.b': fakeEngine } }],
];
for (const [what, code, plugin] of bad) {
  t.test(`registration rejects ${what} with ${code}`, async (t) => {
    const r = new Registry();
    const err = t.throws(() => r.register(plugin as Plugin), { code }) as { details?: { plugin?: unknown } };
    t.ok(err.details && 'plugin' in err.details, 'the error says which plugin');
    if (typeof (plugin as { name?: unknown })?.name === 'string' && (plugin as { name: string }).name.trim()) t.equal(err.details!.plugin, 'p');
    t.same(r.list(), [], 'nothing was registered');
    t.same(r.plugins(), []);
  });
}

t.test('a duplicate id is rejected, names both plugins, and changes nothing', async (t) => {
  const hooks = new Hooks();
  const r = new Registry({ hooks });
  r.register({ name: 'first', apiVersion: 1, engines: { x: fakeEngine } });
  const second: Plugin = { name: 'second', apiVersion: 1, healthchecks: { fine: { description: 'ok', probe } }, engines: { x: fakeEngine }, hooks: { onAppAdded() {} } };
  const err = t.throws(() => r.register(second), { code: 'GV_ERR_PLUGIN_DUPLICATE_ID' }) as { details: Record<string, unknown> };
  t.equal(err.details.plugin, 'second');
  t.equal(err.details.owner, 'first');
  t.equal(r.healthcheck('fine'), undefined, 'the healthcheck that came before the bad engine was not registered');
  t.equal(hooks.count('onAppAdded'), 0, 'its hooks were not subscribed');
  t.notOk(r.has('second'));
});

t.test('a duplicate plugin name is rejected', async (t) => {
  const r = new Registry();
  r.register({ name: 'p', apiVersion: 1 });
  t.throws(() => r.register({ name: 'p', apiVersion: 1 }), { code: 'GV_ERR_PLUGIN_DUPLICATE_NAME', details: { plugin: 'p' } });
});

t.test('registering a plugin subscribes its hooks', async (t) => {
  const hooks = new Hooks();
  const r = new Registry({ hooks });
  const seen: string[] = [];
  r.register({ name: 'p', apiVersion: 1, hooks: { onAppRemoved: (_ctx, e) => { seen.push(e.name); }, onAppAdded: { handler() {}, order: 'post' } } });
  t.equal(r.hooks, hooks);
  t.equal(hooks.count('onAppAdded'), 1);
  await hooks.emit('onAppRemoved', 'demo', { name: 'demo' });
  t.same(seen, ['demo']);
});

t.test('two registries are independent', async (t) => {
  const a = new Registry();
  const b = new Registry();
  a.register(enginesPlugin);
  b.register(enginesPlugin);
  t.ok(a.engine('http') && b.engine('http'));
});

t.test('an engine created through the registry serves traffic', async (t) => {
  const { createServer } = await import('node:http');
  const { once } = await import('node:events');
  const backend = createServer((_req, res) => res.end('via registry'));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => backend.close());
  const r = new Registry();
  for (const p of builtinPlugins) r.register(p);
  const engine = r.require('engines', 'http').create({ app: 'demo', host: '127.0.0.1', port: 0, queueTimeoutMs: 1000, log: () => {} });
  await engine.listen();
  t.teardown(() => engine.close(1000));
  engine.setTargets([{ id: 'demo#1', host: '127.0.0.1', port: (backend.address() as { port: number }).port }]);
  const res = await fetch(`http://127.0.0.1:${engine.address().port}/`);
  t.equal(await res.text(), 'via registry');
});
