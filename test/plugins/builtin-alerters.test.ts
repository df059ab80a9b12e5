import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Hooks } from '../../src/plugins/hooks.js';
import { logAlerter, webhookAlerter } from '../../src/plugins/builtin-alerters.js';
import type { InstanceInfo } from '../../src/plugins/types.js';

const instance: InstanceInfo = { app: 'demo', id: 'demo#2', pid: 99, port: 10001, state: 'exited' };

t.test('the webhook alerter POSTs JSON for failed restarts, fatal apps and unexpected exits only', async (t) => {
  const bodies: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      bodies.push({ method: req.method, type: req.headers['content-type'], ...JSON.parse(body) });
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const hooks = new Hooks();
  const alerter = webhookAlerter.create({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` }, hooks.subscriber('gracevisor:alerters'), () => {});
  await hooks.emit('onRestartFailed', 'demo', { error: { code: 'GV_ERR_START_TIMEOUT', message: 'slow' }, attempt: 1, nextAttemptMs: 1000 });
  await hooks.emit('onAppFatal', 'demo', { error: { code: 'GV_ERR_START_FAILED', message: 'dead' }, retries: 3 });
  await hooks.emit('onInstanceExit', 'demo', { instance, exit: { code: 1, signal: null }, expected: false });
  await hooks.emit('onInstanceExit', 'demo', { instance, exit: { code: 0, signal: null }, expected: true });
  await alerter.close?.();
  t.same(bodies.map((b) => b.event).sort(), ['app_fatal', 'instance_exit', 'restart_failed']);
  t.match(bodies.find((b) => b.event === 'restart_failed'), { method: 'POST', type: 'application/json', app: 'demo', error: { code: 'GV_ERR_START_TIMEOUT' }, attempt: 1 });
  t.match(bodies.find((b) => b.event === 'instance_exit'), { instance: 'demo#2', exit: { code: 1 } });
});

t.test('a webhook that cannot be reached is logged, never thrown', async (t) => {
  const logs: { level: string; msg: string }[] = [];
  const errors: unknown[] = [];
  const hooks = new Hooks({ onError: (e) => errors.push(e) });
  const alerter = webhookAlerter.create({ url: 'http://127.0.0.1:1/hook' }, hooks.subscriber('gracevisor:alerters'), (level, msg) => logs.push({ level, msg }));
  await hooks.emit('onAppFatal', 'demo', { error: { code: 'GV_ERR_START_FAILED', message: 'dead' }, retries: 3 });
  await alerter.close?.();
  t.same(errors, [], 'no hook error');
  t.match(logs, [{ level: 'warn' }]);
});

t.test('the webhook alerter needs a url', async (t) => {
  t.throws(() => webhookAlerter.create({}, new Hooks().subscriber('x'), () => {}), { code: 'GV_ERR_CONFIG_TYPE' });
});

t.test('the log alerter writes alerts to the daemon log', async (t) => {
  const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const hooks = new Hooks();
  const alerter = logAlerter.create({}, hooks.subscriber('gracevisor:alerters'), (level, msg, fields) => logs.push({ level, msg, ...(fields && { fields }) }));
  await hooks.emit('onAppFatal', 'demo', { error: { code: 'GV_ERR_START_FAILED', message: 'dead' }, retries: 3 });
  await alerter.close?.();
  await hooks.emit('onAppFatal', 'demo', { error: { code: 'GV_ERR_START_FAILED', message: 'again' }, retries: 4 });
  t.equal(logs.length, 1, 'closed alerters stop listening');
  t.match(logs[0], { level: 'error', fields: { app: 'demo', retries: 3 } });
});
