import t from 'tap';
import { Hooks } from '../../src/plugins/hooks.js';
import type { GvError } from '../../src/errors.js';
import type { InstanceInfo } from '../../src/plugins/types.js';

const instance: InstanceInfo = { app: 'demo', id: 'demo#1', pid: 123, port: 10000, state: 'starting' };

function collecting(timeoutMs = 5_000): { hooks: Hooks; errors: GvError[]; logs: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const errors: GvError[] = [];
  const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const hooks = new Hooks({ timeoutMs, onError: (e) => errors.push(e), log: (level, msg, fields) => logs.push({ level, msg, ...(fields && { fields }) }) });
  return { hooks, errors, logs };
}

t.test('an on* handler that throws, rejects or hangs is reported with its plugin, and the others still run', async (t) => {
  const { hooks, errors } = collecting(1_000);
  const ran: string[] = [];
  hooks.add('thrower', 'onAppAdded', () => { throw new Error('boom'); });
  hooks.add('rejecter', 'onAppAdded', async () => { throw new Error('later boom'); });
  hooks.add('hanger', 'onAppAdded', () => new Promise<void>(() => {}));
  hooks.add('good', 'onAppAdded', (ctx) => { ran.push(`good:${ctx.app}`); });
  hooks.add('slow-good', 'onAppAdded', async () => { await new Promise((r) => setTimeout(r, 20)); ran.push('slow-good'); });
  await hooks.emit('onAppAdded', 'demo', { config: {} as never });
  t.same(ran.sort(), ['good:demo', 'slow-good']);
  const byPlugin = Object.fromEntries(errors.map((e) => [e.details!.plugin, e.code]));
  t.same(byPlugin, { thrower: 'GV_ERR_HOOK_HANDLER', rejecter: 'GV_ERR_HOOK_HANDLER', hanger: 'GV_ERR_HOOK_TIMEOUT' });
  for (const e of errors) t.equal(e.details!.hook, 'onAppAdded');
});

t.test('emit resolves even when the error reporter itself throws, and the other handlers still run', async (t) => {
  const reported: string[] = [];
  const ran: string[] = [];
  const hooks = new Hooks({ onError: (e) => { reported.push(e.code); throw new Error('reporter broke'); } });
  hooks.add('p', 'onDaemonStop', () => { throw new Error('x'); });
  hooks.add('q', 'onDaemonStop', (_ctx, e) => { ran.push(`q:${e.signal}`); });
  await t.resolves(hooks.emit('onDaemonStop', null, { signal: 'SIGTERM' }), 'emit resolved');
  t.same(reported, ['GV_ERR_HOOK_HANDLER'], 'the throw reached the reporter');
  t.same(ran, ['q:SIGTERM'], 'the other handler ran');
});

t.test('pre* handlers run in series: pre first, then registration order, then post', async (t) => {
  const { hooks } = collecting();
  const order: string[] = [];
  const step = (name: string) => async () => {
    order.push(`${name}:start`);
    await new Promise((r) => setTimeout(r, 5));
    order.push(`${name}:end`);
  };
  hooks.add('late', 'preSwitch', step('late'), 'post');
  hooks.add('a', 'preSwitch', step('a'));
  hooks.add('early', 'preSwitch', step('early'), 'pre');
  hooks.add('b', 'preSwitch', step('b'));
  await hooks.runPre('preSwitch', 'demo', { from: [], to: instance });
  t.same(order, ['early:start', 'early:end', 'a:start', 'a:end', 'b:start', 'b:end', 'late:start', 'late:end']);
});

t.test('a pre* handler that returns false vetoes and names its plugin; later handlers do not run', async (t) => {
  const { hooks, errors } = collecting();
  let after = false;
  hooks.add('gate', 'preRestart', () => false);
  hooks.add('after', 'preRestart', () => { after = true; });
  await t.rejects(hooks.runPre('preRestart', 'demo', { reason: 'manual' }), { code: 'GV_ERR_HOOK_VETO', details: { plugin: 'gate', hook: 'preRestart' } });
  t.equal(after, false);
  t.same(errors, [], 'pre failures reject, they are not reported through onError');
});

t.test('a pre* handler that throws vetoes', async (t) => {
  const { hooks } = collecting();
  hooks.add('ok', 'preInstanceStart', () => true);
  hooks.add('angry', 'preInstanceStart', async () => { throw new Error('no'); });
  await t.rejects(hooks.runPre('preInstanceStart', 'demo', { instance, reason: 'start' }), { code: 'GV_ERR_HOOK_VETO', details: { plugin: 'angry' } });
});

t.test('a pre* handler that hangs is a timeout naming plugin and hook, and vetoes', async (t) => {
  const { hooks } = collecting(50);
  hooks.add('stuck', 'preSwitch', () => new Promise<void>(() => {}));
  await t.rejects(hooks.runPre('preSwitch', 'demo', { from: [], to: instance }), { code: 'GV_ERR_HOOK_TIMEOUT', details: { plugin: 'stuck', hook: 'preSwitch' } });
});

t.test('pre* hooks with no handler, or handlers that agree, resolve', async (t) => {
  const { hooks, errors } = collecting();
  await t.resolves(hooks.runPre('preRestart', null, { reason: 'x' }), 'no handler: no veto');
  const asked: string[] = [];
  hooks.add('yes', 'preRestart', (_ctx, e) => { asked.push(`yes:${e.reason}`); return true; });
  hooks.add('undefined', 'preRestart', (_ctx, e) => { asked.push(`undefined:${e.reason}`); });
  await t.resolves(hooks.runPre('preRestart', null, { reason: 'x' }), 'true and undefined agree');
  t.same(asked, ['yes:x', 'undefined:x'], 'both handlers were asked, in order');
  t.same(errors, [], 'nothing was reported');
});

t.test('a subscriber view can subscribe and unsubscribe but has no way to emit', async (t) => {
  const { hooks, logs } = collecting();
  const view = hooks.subscriber('my-plugin');
  t.same(Object.keys(view), ['on']);
  const seen: string[] = [];
  const off = view.on('onAppRemoved', (ctx, e) => {
    seen.push(e.name);
    ctx.log('info', 'removed', { n: 1 });
  });
  await hooks.emit('onAppRemoved', 'demo', { name: 'demo' });
  off();
  await hooks.emit('onAppRemoved', 'demo', { name: 'again' });
  t.same(seen, ['demo']);
  t.same(logs, [{ level: 'info', msg: 'removed', fields: { n: 1, plugin: 'my-plugin' } }], 'ctx.log is tagged with the plugin name');
  t.throws(() => view.on('onNothing' as never, () => {}), { code: 'GV_ERR_PLUGIN_UNKNOWN_HOOK', details: { plugin: 'my-plugin' } });
  t.throws(() => view.on('onAppAdded', 'x' as never), { code: 'GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION' });
});
