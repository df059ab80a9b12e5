import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { alive } from '../helpers/processes.js';
import { waitFor, within } from '../helpers/wait.js';
import { execHealthcheck, httpHealthcheck, tcpHealthcheck } from '../../src/plugins/builtin-healthchecks.js';
import type { HealthcheckConfig } from '../../src/config/model.js';

const pos = { file: '/etc/gracevisor.conf', line: 7, col: 5 };
const base = { interval: 1000, timeout: 1000, unhealthy_threshold: 1 };
const signal = (): AbortSignal => AbortSignal.timeout(10_000);

async function deadPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

t.test('the http check passes on 2xx, fails otherwise, and sends the Host header', async (t) => {
  const hosts: string[] = [];
  const server = http.createServer((req, res) => {
    hosts.push(req.headers.host ?? '');
    if (req.url === '/health') res.end('ok');
    else if (req.url === '/hang') return;
    else { res.statusCode = req.url === '/teapot' ? 418 : 500; res.end(); }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const target = { id: 'a#1', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  const check = (o: Record<string, unknown>): HealthcheckConfig => ({ type: 'http', ...base, ...httpHealthcheck.parse!(o, pos) });

  const ok = await httpHealthcheck.probe(target, check({ path: '/health' }), signal());
  t.equal(ok.ok, true);
  t.match(ok.detail, /^200/);
  t.equal(hosts[0], `127.0.0.1:${target.port}`);
  t.equal((await httpHealthcheck.probe(target, check({ path: '/broken' }), signal())).ok, false);
  t.equal((await httpHealthcheck.probe(target, check({ path: '/teapot', expect_status: [418] }), signal())).ok, true, 'expect_status overrides 2xx');
  t.equal((await httpHealthcheck.probe(target, check({ path: '/health', expect_status: '204' }), signal())).ok, false);
  await httpHealthcheck.probe(target, check({ path: '/health', host: 'app.example' }), signal());
  t.equal(hosts.at(-1), 'app.example');

  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const hung = await httpHealthcheck.probe(target, check({ path: '/hang' }), ac.signal);
  t.same(hung, { ok: false, detail: 'timed out' }, 'the abort signal ends a hanging probe');

  const refused = await httpHealthcheck.probe({ ...target, port: await deadPort() }, check({ path: '/health' }), signal());
  t.same(refused, { ok: false, detail: 'ECONNREFUSED' });
});

t.test('the http check options are validated', async (t) => {
  t.same(httpHealthcheck.parse!({ path: '/h', expect_status: ['200', 204] }, pos), { path: '/h', expect_status: [200, 204] });
  t.throws(() => httpHealthcheck.parse!({ path: 'health' }, pos), { code: 'GV_ERR_CONFIG_HEALTHCHECK', pos });
  t.throws(() => httpHealthcheck.parse!({ path: '/h', expect_status: 99 }, pos), { code: 'GV_ERR_CONFIG_HEALTHCHECK', details: { option: 'expect_status' } });
  t.throws(() => httpHealthcheck.parse!({ path: '/h', expct_status: 200 }, pos), { code: 'GV_ERR_CONFIG_HEALTHCHECK', details: { option: 'expct_status' } });
});

t.test('the tcp check passes when the port accepts and fails when refused', async (t) => {
  const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const target = { id: 'a#1', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  const check = { type: 'tcp', ...base };
  t.equal((await tcpHealthcheck.probe(target, check, signal())).ok, true);
  t.same(await tcpHealthcheck.probe({ ...target, port: await deadPort() }, check, signal()), { ok: false, detail: 'ECONNREFUSED' });
  t.same(tcpHealthcheck.parse!({}, pos), {});
  t.throws(() => tcpHealthcheck.parse!({ path: '/' }, pos), { code: 'GV_ERR_CONFIG_HEALTHCHECK' });
});

t.test('the exec check passes on exit 0 with {port} filled in, fails otherwise, and is killed at its timeout', async (t) => {
  const target = { id: 'a#1', host: '127.0.0.1', port: 4242 };
  const check = (command: string): HealthcheckConfig => ({ type: 'exec', ...base, ...execHealthcheck.parse!({ command }, pos) });
  const node = process.execPath;
  const pass = await execHealthcheck.probe(target, check(`${node} -e "process.exit(process.argv[1] === '4242' && process.env.PORT === '4242' ? 0 : 3)" {port}`), signal());
  t.same(pass, { ok: true, detail: 'exit 0' });
  t.same(await execHealthcheck.probe(target, check(`${node} -e "process.exit(2)"`), signal()), { ok: false, detail: 'exit 2' });
  t.same(await execHealthcheck.probe(target, check('/nonexistent/gv-check'), signal()), { ok: false, detail: 'ENOENT' });

  const dir = t.testdir({});
  const marker = join(dir, 'still-running');
  const pidFile = join(dir, 'pid');
  const ac = new AbortController();
  // The command says it runs (its pid), then would write the marker 30 s later. The probe is aborted
  // once it runs: the command must be killed, not left running.
  const slowProbe = execHealthcheck.probe(target, check(`${node} -e "require('fs').writeFileSync(process.argv[1], String(process.pid)); setTimeout(() => require('fs').writeFileSync(process.argv[2], 'x'), 30000)" ${pidFile} ${marker}`), ac.signal);
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 'the check command running', 10_000);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  ac.abort();
  const slow = await within(slowProbe, 10_000, 'the aborted exec probe');
  t.equal(slow.ok, false);
  t.match(slow.detail, /timed out/);
  await waitFor(() => !alive(pid), 'the check command gone', 10_000).catch(() => undefined);
  t.notOk(alive(pid), 'the command was killed, not left running');
  t.notOk(existsSync(marker), 'and did not get to do its work');
});

t.test('the exec check options are validated', async (t) => {
  t.throws(() => execHealthcheck.parse!({}, pos), { code: 'GV_ERR_CONFIG_HEALTHCHECK', details: { option: 'command' } });
  t.throws(() => execHealthcheck.parse!({ command: 'check | grep x' }, pos), { code: 'GV_ERR_CONFIG_HEALTHCHECK' });
  t.same(execHealthcheck.parse!({ command: './check --port {port}' }, pos), { command: './check --port {port}' });
});
