import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import type { Test } from 'tap';
import { TcpEngine } from '../../src/engines/tcp.js';
import type { Target } from '../../src/plugins/engine.js';
import { deadPort, engineOptions, started, until } from './backends.js';

interface TcpBackend {
  target: Target;
  sockets: Set<net.Socket>;
  /** What each connection received in total, reported when it ended. */
  received: string[];
}

/**
 * A tcp backend named `name`. Modes: 'greet' writes `name` on connect and echoes lines as `name:line`;
 * 'collect' reads until the client half-closes, then answers `name got <bytes>` and ends;
 * 'speak-first' writes `name` and ends its side at once, then keeps reading until the client ends.
 */
async function tcpBackend(t: Test, name: string, mode: 'greet' | 'collect' | 'speak-first'): Promise<TcpBackend> {
  const b: TcpBackend = { target: { id: name, host: '127.0.0.1', port: 0 }, sockets: new Set(), received: [] };
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    b.sockets.add(s);
    s.on('close', () => b.sockets.delete(s));
    s.on('error', () => {});
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (mode === 'greet') s.write(`${name}:${d.toString()}`);
    });
    s.on('end', () => {
      b.received.push(got);
      if (mode === 'collect') s.end(`${name} got ${got.length}`);
      else s.end();
    });
    if (mode === 'greet') s.write(name);
    if (mode === 'speak-first') s.end(name);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  b.target.port = (server.address() as net.AddressInfo).port;
  t.teardown(async () => {
    for (const s of b.sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return b;
}

/** A client connection through the engine that records what it reads. */
async function client(t: Test, port: number, opts: { waitConnect?: boolean } = {}): Promise<{ socket: net.Socket; data: () => string; ended: Promise<unknown>; closed: Promise<unknown> }> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.on('error', () => {});
  let data = '';
  socket.on('data', (d: Buffer) => { data += d.toString(); });
  // Not events.once: that rejects on 'error', and a reset is an expected way for these to end.
  const ended = new Promise((r) => socket.once('end', r));
  const closed = new Promise((r) => socket.once('close', r));
  t.teardown(() => socket.destroy());
  if (opts.waitConnect !== false) await once(socket, 'connect');
  return { socket, data: () => data, ended, closed };
}

t.test('a connection stays on its target after a switch, new ones go to the new target', async (t) => {
  const a = await tcpBackend(t, 'A', 'greet');
  const b = await tcpBackend(t, 'B', 'greet');
  const engine = await started(t, new TcpEngine(engineOptions()));
  const port = engine.address().port;
  engine.setTargets([a.target]);
  const c1 = await client(t, port);
  await until(() => c1.data() === 'A');
  engine.setTargets([b.target]);
  c1.socket.write('x');
  await until(() => c1.data() === 'AA:x');
  const c2 = await client(t, port);
  await until(() => c2.data() === 'B');

  let drained = false;
  const drain = engine.drain(a.target, 30_000).then((r) => { drained = true; return r; });
  c1.socket.write('y');
  await until(() => c1.data() === 'AA:xA:y');
  t.equal(drained, false, 'drain(A) waits while the connection is open');
  c1.socket.end();
  const r = await drain;
  t.equal(r.drained, true);
  t.equal(r.open, 0);
  t.same(engine.stats().targets.map((x) => x.id), ['B'], 'a drained old target is forgotten');
  c2.socket.end();
});

t.test('a client half-close reaches the app, which can still answer', async (t) => {
  const a = await tcpBackend(t, 'A', 'collect');
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const c = await client(t, engine.address().port);
  c.socket.write('hello ');
  c.socket.end('world');
  await c.ended;
  t.equal(c.data(), 'A got 11', 'the app saw the end of the request and answered after it');
  await c.closed;
  t.same(a.received, ['hello world']);
});

t.test('an app half-close reaches the client, which can still send', async (t) => {
  const a = await tcpBackend(t, 'A', 'speak-first');
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const c = await client(t, engine.address().port);
  await c.ended;
  t.equal(c.data(), 'A', 'the client read the app\'s data and its end');
  c.socket.end('late bytes');
  await c.closed;
  await until(() => a.received.length === 1);
  t.same(a.received, ['late bytes'], 'bytes sent after the app ended its side still arrived');
  await until(() => engine.stats().targets[0]!.inFlight === 0);
  t.pass('the connection left in-flight once both sides closed');
});

t.test('a reset by the app closes the client connection', async (t) => {
  const a = await tcpBackend(t, 'A', 'greet');
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const c = await client(t, engine.address().port);
  await until(() => a.sockets.size === 1 && c.data() === 'A');
  [...a.sockets][0]!.resetAndDestroy();
  await c.closed;
  t.pass('client closed');
  const r = await engine.drain(a.target, 5_000);
  t.equal(r.drained, true);
});

t.test('a client that goes away closes the app connection', async (t) => {
  const a = await tcpBackend(t, 'A', 'greet');
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const c = await client(t, engine.address().port);
  await until(() => a.sockets.size === 1 && c.data() === 'A');
  const appSide = [...a.sockets][0]!;
  const appClosed = new Promise((r) => appSide.once('close', r));
  c.socket.resetAndDestroy();
  await appClosed;
  t.pass('app connection closed');
  t.equal((await engine.drain(a.target, 5_000)).drained, true);
});

t.test('a connection to an unreachable target is closed and counted as an error', async (t) => {
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([{ id: 'dead', host: '127.0.0.1', port: await deadPort() }]);
  const c = await client(t, engine.address().port);
  await c.closed;
  t.equal(engine.stats().errors, 1);
});

t.test('with no target a connection is held, then connected when a target appears', async (t) => {
  const a = await tcpBackend(t, 'A', 'greet');
  const engine = await started(t, new TcpEngine(engineOptions({ queueTimeoutMs: 30_000 })));
  const c = await client(t, engine.address().port);
  c.socket.write('early');
  await until(() => engine.stats().requests === 1);
  t.equal(a.sockets.size, 0);
  engine.setTargets([a.target]);
  await until(() => c.data() === 'AA:early');
  t.pass('bytes sent while held were delivered once connected');
});

t.test('with no target a held connection is closed at the queue timeout', async (t) => {
  const engine = await started(t, new TcpEngine(engineOptions({ queueTimeoutMs: 100 })));
  const c = await client(t, engine.address().port);
  await c.closed;
  t.equal(engine.stats().errors, 1);
});

// The queue timeout here is longer than any test runs: a connection that were held would never close.
t.test('with no target and hold off, a connection is closed at once, and held ones are closed too', async (t) => {
  const engine = await started(t, new TcpEngine(engineOptions({ queueTimeoutMs: 3_600_000 })));
  const held = await client(t, engine.address().port);
  await until(() => engine.stats().requests === 1);
  engine.setTargets([], { hold: false });
  await held.closed;
  // It may be reset before 'connect' is even seen, so don't wait for that.
  const refused = await client(t, engine.address().port, { waitConnect: false });
  await refused.closed;
  t.equal(engine.stats().errors, 2);
});

t.test('drain reports the open connections when its timeout passes', async (t) => {
  const a = await tcpBackend(t, 'A', 'greet');
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const port = engine.address().port;
  const c1 = await client(t, port);
  const c2 = await client(t, port);
  await until(() => c1.data() === 'A' && c2.data() === 'A');
  const r = await engine.drain(a.target, 100);
  t.equal(r.drained, false);
  t.equal(r.open, 2);
});

t.test('stats count connections and bytes per target', async (t) => {
  const a = await tcpBackend(t, 'A', 'collect');
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([a.target]);
  for (let i = 0; i < 3; i++) {
    const c = await client(t, engine.address().port);
    c.socket.end('12345');
    await c.closed;
  }
  await until(() => engine.stats().targets[0]!.inFlight === 0);
  const s = engine.stats();
  t.equal(s.requests, 3);
  t.equal(s.errors, 0);
  const ta = s.targets[0]!;
  t.equal(ta.total, 3);
  t.equal(ta.bytesOut, 15, 'bytes sent to the app');
  t.equal(ta.bytesIn, 3 * 'A got 5'.length, 'bytes received from the app');
  t.equal(s.bytesIn, 15);
  t.equal(s.bytesOut, 3 * 'A got 5'.length);
});

t.test('close waits for open connections up to its timeout, then cuts them', async (t) => {
  const a = await tcpBackend(t, 'A', 'greet');
  const engine = new TcpEngine(engineOptions());
  await engine.listen();
  engine.setTargets([a.target]);
  const c = await client(t, engine.address().port);
  await until(() => c.data() === 'A');
  await engine.close(100);
  await c.closed;
  t.pass('the open connection was closed by close()');
});
