// The http engine against clients and apps that misbehave (issue: reliability): an app that never
// answers, a client that sends two Host headers or an absolute-form target or forged X-Forwarded-*,
// a slowloris, a flood of connections past max_connections, and an instance that dies mid-request.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { engineOptions, get, httpBackend, raw, started, until, newHttpEngine } from './backends.js';

// A regression that makes something here hang fails with the test's name, not at tap's timeout.
t.beforeEach((t) => t.setTimeout(60_000));

t.test('an app that accepts and never answers gets its requests answered 504 at upstream_timeout', async (t) => {
  const silent = net.createServer((s) => s.on('data', () => {}));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => new Promise<void>((r) => { silent.close(() => r()); for (const c of conns) c.destroy(); }));
  const conns = new Set<net.Socket>();
  // The engine may reset (not close) the connection of a request it gave up on.
  silent.on('connection', (c) => { conns.add(c); c.on('error', () => {}); c.on('close', () => conns.delete(c)); });
  const engine = await started(t, newHttpEngine(engineOptions({ upstreamTimeoutMs: 300 })));
  engine.setTargets([{ id: 'silent', host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port }]);
  const started0 = Date.now();
  const r = await get(engine.address().port, '/');
  t.equal(r.status, 504);
  t.match(r.body, /did not answer/);
  t.ok(Date.now() - started0 >= 250, 'it waited for upstream_timeout first');
  t.equal(engine.stats().targets[0]?.inFlight, 0, 'nothing is left in flight');
});

t.test('two Host headers are answered 400 and never forwarded', async (t) => {
  const a = await httpBackend(t, 'A');
  const engine = await started(t, newHttpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const out = await raw(engine.address().port, 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
  t.match(out, /^HTTP\/1\.1 400 /);
  t.equal(a.seen.length, 0, 'the app saw nothing');
});

t.test('an absolute-form request target is sent upstream in origin form, with its authority as Host', async (t) => {
  const a = await httpBackend(t, 'A');
  const engine = await started(t, newHttpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const out = await raw(engine.address().port, 'GET http://app.example:81/headers?x=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n');
  t.match(out, /^HTTP\/1\.1 200 /);
  t.equal(a.seen[0]?.url, '/headers?x=1');
  t.equal(a.seen[0]?.headers.host, 'app.example:81');
  t.equal(a.seen[0]?.headers['x-forwarded-host'], 'app.example:81');
});

t.test('a client’s own X-Forwarded-Proto and -Host are replaced, unless it is a trusted proxy', async (t) => {
  const a = await httpBackend(t, 'A');
  const forged = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'bank.example', 'x-forwarded-for': '6.6.6.6' };
  const untrusted = await started(t, newHttpEngine(engineOptions()));
  untrusted.setTargets([a.target]);
  const one = JSON.parse((await get(untrusted.address().port, '/headers', { headers: forged })).body);
  t.equal(one['x-forwarded-proto'], 'http');
  t.equal(one['x-forwarded-host'], `127.0.0.1:${untrusted.address().port}`);
  t.equal(one['x-forwarded-for'], '6.6.6.6, 127.0.0.1', 'X-Forwarded-For is appended to');
  const trusting = await started(t, newHttpEngine(engineOptions({ trustedProxies: ['127.0.0.0/8'] })));
  trusting.setTargets([a.target]);
  const two = JSON.parse((await get(trusting.address().port, '/headers', { headers: forged })).body);
  t.equal(two['x-forwarded-proto'], 'https');
  t.equal(two['x-forwarded-host'], 'bank.example');
});

t.test('a client that does not finish its request head in header_timeout gets 408, and others are served meanwhile', async (t) => {
  const a = await httpBackend(t, 'A');
  const engine = await started(t, newHttpEngine(engineOptions({ headerTimeoutMs: 300 })));
  engine.setTargets([a.target]);
  const port = engine.address().port;
  const slow = Array.from({ length: 50 }, () => raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ', 10_000));
  t.equal((await get(port, '/')).body, 'A', 'a normal client is served while 50 slow ones wait');
  const answers = await Promise.all(slow);
  t.ok(answers.every((o) => /^HTTP\/1\.1 408 /.test(o)), 'every slow client got 408');
});

t.test('past max_connections the oldest connection without a complete request is shed first, busy ones never', async (t) => {
  const a = await httpBackend(t, 'A');
  const engine = await started(t, newHttpEngine(engineOptions({ maxConnections: 10 })));
  engine.setTargets([a.target]);
  const port = engine.address().port;
  const busy = get(port, '/hold');
  await until(() => a.held.length === 1);
  const idle: net.Socket[] = [];
  for (let i = 0; i < 9; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    idle.push(s);
  }
  await until(() => engine.stats().connections === 10);
  const closed = once(idle[0]!, 'close');
  t.equal((await get(port, '/')).body, 'A', 'a new client is served at the cap');
  await closed;
  t.ok(idle[0]!.destroyed, 'the oldest silent connection made room');
  t.notOk(idle[8]!.destroyed, 'the newest silent one was left');
  a.held[0]!();
  t.equal((await busy).body, 'A', 'the busy request was never cut');
  for (const s of idle) s.destroy();
});

t.test('a GET whose only instance dies mid-request is retried on its replacement, not answered 502 or 503', async (t) => {
  // The "instance" accepts, reads the request and dies without a byte (as a SIGKILLed process does).
  const dying = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  dying.listen(0, '127.0.0.1');
  await once(dying, 'listening');
  t.teardown(() => new Promise<void>((r) => dying.close(() => r())));
  const dead = { id: 'dead', host: '127.0.0.1', port: (dying.address() as net.AddressInfo).port };
  const b = await httpBackend(t, 'B');
  const engine = await started(t, newHttpEngine(engineOptions()));
  engine.setTargets([dead]);
  const pending = get(engine.address().port, '/');
  await once(dying, 'connection');
  // The supervisor notices the exit: no target for a moment, then the replacement.
  await new Promise((r) => setTimeout(r, 20));
  engine.setTargets([]);
  await new Promise((r) => setTimeout(r, 50));
  engine.setTargets([b.target]);
  const r = await pending;
  t.equal(r.status, 200);
  t.equal(r.body, 'B');
});

t.test('with two instances, a retry goes to the other one, never back to the one that failed', async (t) => {
  let deadHits = 0;
  const dying = net.createServer((s) => s.once('data', () => { deadHits++; s.resetAndDestroy(); }));
  dying.listen(0, '127.0.0.1');
  await once(dying, 'listening');
  t.teardown(() => new Promise<void>((r) => dying.close(() => r())));
  const dead = { id: 'dead', host: '127.0.0.1', port: (dying.address() as net.AddressInfo).port };
  const b = await httpBackend(t, 'B');
  const engine = await started(t, newHttpEngine(engineOptions()));
  engine.setTargets([dead, b.target]);
  const results = await Promise.all(Array.from({ length: 20 }, () => get(engine.address().port, '/')));
  t.same(results.map((r) => r.status), Array(20).fill(200));
  t.ok(deadHits >= 5 && deadHits <= 10, `the dead one got each of its requests once (${deadHits})`);
});

t.test('a POST is not retried when its instance dies mid-request: 502', async (t) => {
  let hits = 0;
  const dying = net.createServer((s) => s.once('data', () => { hits++; s.resetAndDestroy(); }));
  dying.listen(0, '127.0.0.1');
  await once(dying, 'listening');
  t.teardown(() => new Promise<void>((r) => dying.close(() => r())));
  const engine = await started(t, newHttpEngine(engineOptions()));
  engine.setTargets([{ id: 'dead', host: '127.0.0.1', port: (dying.address() as net.AddressInfo).port }]);
  const r = await get(engine.address().port, '/', { method: 'POST', body: 'x' });
  t.equal(r.status, 502);
  t.equal(hits, 1, 'sent once');
});
