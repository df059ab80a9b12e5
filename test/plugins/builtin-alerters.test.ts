import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { execAlerter, logAlerter, webhookAlerter } from '../../src/plugins/builtin-alerters.js';
import type { Alert } from '../../src/plugins/types.js';

const pos = { file: '/etc/gracevisor/gracevisor.yaml', line: 4, col: 5 };
const alert: Alert = { event: 'restart_failed', app: 'demo', instance: 'demo#2', at: '2026-12-01T00:00:00.000Z', error: { code: 'GV_ERR_START_TIMEOUT', message: 'slow' }, attempt: 1 };

t.test('the webhook alerter POSTs the alert as JSON, and a status of 300 or more is a failed delivery', async (t) => {
  const bodies: Record<string, unknown>[] = [];
  let status = 204;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      bodies.push({ method: req.method, type: req.headers['content-type'], token: req.headers['x-token'], ...JSON.parse(body) });
      res.writeHead(status).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const opts = webhookAlerter.parse!({ url, headers: { 'x-token': 's3cret' } }, pos);
  const a = webhookAlerter.create(opts, () => {});
  await a.send(alert, AbortSignal.timeout(5_000));
  t.match(bodies[0], { method: 'POST', type: 'application/json', token: 's3cret', event: 'restart_failed', app: 'demo', instance: 'demo#2', error: { code: 'GV_ERR_START_TIMEOUT' } });
  status = 500;
  await t.rejects(a.send(alert, AbortSignal.timeout(5_000)), /answered 500/);
});

t.test('a webhook that cannot be reached, or does not answer in time, rejects the delivery', async (t) => {
  const a = webhookAlerter.create(webhookAlerter.parse!({ url: 'http://127.0.0.1:1/hook' }, pos), () => {});
  await t.rejects(a.send(alert, AbortSignal.timeout(5_000)));
  const silent = http.createServer(() => {});
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => { silent.closeAllConnections(); silent.close(); });
  const b = webhookAlerter.create({ url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/` }, () => {});
  await t.rejects(b.send(alert, AbortSignal.timeout(100)));
});

t.test('the webhook alerter checks its options: a url of http or https, headers as strings, nothing else', async (t) => {
  t.throws(() => webhookAlerter.parse!({}, pos), { code: 'GV_ERR_CONFIG_ALERT', pos, details: { option: 'url' } });
  t.throws(() => webhookAlerter.parse!({ url: 'ftp://x' }, pos), { code: 'GV_ERR_CONFIG_ALERT', details: { option: 'url' } });
  t.throws(() => webhookAlerter.parse!({ url: 'http://x', headers: ['a'] }, pos), { code: 'GV_ERR_CONFIG_ALERT', details: { option: 'headers' } });
  t.throws(() => webhookAlerter.parse!({ url: 'http://x', method: 'PUT' }, pos), { code: 'GV_ERR_CONFIG_ALERT', details: { option: 'method' } });
  t.same(webhookAlerter.parse!({ url: 'http://x/y' }, pos), { url: 'http://x/y' });
});

t.test('the exec alerter gives its command the alert as JSON on stdin, and a non-zero exit or a timeout fails the delivery', async (t) => {
  const dir = t.testdir({});
  const out = join(dir, 'got.json');
  const script = join(dir, 'notify.mjs');
  writeFileSync(script, `import { writeFileSync } from 'node:fs';\nlet s = '';\nprocess.stdin.on('data', (c) => (s += c));\nprocess.stdin.on('end', () => { writeFileSync(${JSON.stringify(out)}, JSON.stringify({ event: process.env.GV_EVENT, app: process.env.GV_APP, body: JSON.parse(s) })); process.exit(Number(process.argv[2] ?? 0)); });\n`);
  const ok = execAlerter.create(execAlerter.parse!({ command: `${process.execPath} ${script} 0` }, pos), () => {});
  await ok.send(alert, AbortSignal.timeout(10_000));
  t.match(JSON.parse(readFileSync(out, 'utf8')), { event: 'restart_failed', app: 'demo', body: alert });
  const failing = execAlerter.create({ command: `${process.execPath} ${script} 3` }, () => {});
  await t.rejects(failing.send(alert, AbortSignal.timeout(10_000)), /exit 3/);
  const slow = execAlerter.create({ command: 'sleep 30' }, () => {});
  const t0 = Date.now();
  await t.rejects(slow.send(alert, AbortSignal.timeout(200)), /timed out/);
  t.ok(Date.now() - t0 < 20_000, 'killed at the timeout, not after its 30 s');
  t.throws(() => execAlerter.parse!({ command: 'notify | mail' }, pos), { code: 'GV_ERR_CONFIG_ALERT', details: { option: 'command' } });
  t.throws(() => execAlerter.parse!({}, pos), { code: 'GV_ERR_CONFIG_ALERT', details: { option: 'command' } });
});

t.test('the log alerter writes the alert to the daemon log at error level', async (t) => {
  const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const a = logAlerter.create({}, (level, msg, fields) => logs.push({ level, msg, ...(fields && { fields }) }));
  await a.send({ event: 'app_fatal', app: 'demo', instance: null, at: 'now', retries: 3 }, AbortSignal.timeout(1000));
  t.match(logs, [{ level: 'error', fields: { alert: 'app_fatal', app: 'demo', retries: 3 } }], 'matched by its fields (alert=app_fatal), not its text');
  t.throws(() => logAlerter.parse!({ level: 'warn' }, pos), { code: 'GV_ERR_CONFIG_ALERT' });
});
