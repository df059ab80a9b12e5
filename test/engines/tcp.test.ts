import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import type { Test } from 'tap';
import { TcpEngine } from '../../src/engines/tcp.js';
import type { Target } from '../../src/plugins/engine.js';
import { within } from '../helpers/wait.js';
import { deadPort, engineOptions, started, until } from './backends.js';

t.beforeEach((t) => t.setTimeout(60_000));

interface TcpBackend {
  target: Target;
  sockets: Set<net.Socket>;
  /** What each connection received in total, reported when it ended. */
  received: string[];
  /** The error code of each app-side socket that failed (ECONNRESET for a reset peer). */
  errors: string[];
}

/**
 * A tcp backend named `name`. Modes: 'greet' writes `name` on connect and echoes lines as `name:line`;
 * 'collect' reads until the client half-closes, then answers `name got <bytes>` and ends;
 * 'speak-first' writes `name` and ends its side at once, then keeps reading until the client ends.
 */
async function tcpBackend(t: Test, name: string, mode: 'greet' | 'collect' | 'speak-first'): Promise<TcpBackend> {
  const b: TcpBackend = { target: { id: name, host: '127.0.0.1', port: 0 }, sockets: new Set(), received: [], errors: [] };
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    b.sockets.add(s);
    s.on('close', () => b.sockets.delete(s));
    s.on('error', (err: NodeJS.ErrnoException) => b.errors.push(err.code ?? err.message));
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

/** A client connection through the engine that records what it reads, how it failed and when it closed. */
interface Client {
  socket: net.Socket;
  data: () => string;
  /** The error code the socket failed with (ECONNRESET for a reset), or null (a clean close). */
  error: () => string | null;
  ended: Promise<unknown>;
  /** Resolves with Date.now() at 'close'; bounded by `within` where awaited, so a hang fails. */
  closed: Promise<number>;
}

async function client(t: Test, port: number, opts: { waitConnect?: boolean } = {}): Promise<Client> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let error: string | null = null;
  socket.on('error', (err: NodeJS.ErrnoException) => { error ??= err.code ?? err.message; });
  let data = '';
  socket.on('data', (d: Buffer) => { data += d.toString(); });
  // Not events.once: that rejects on 'error', and a reset is an expected way for these to end.
  const ended = new Promise((r) => socket.once('end', r));
  const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
  t.teardown(() => socket.destroy());
  if (opts.waitConnect !== false) await within(once(socket, 'connect'), 10_000, 'connect');
  return { socket, data: () => data, error: () => error, ended, closed };
}

/** `c` closed (within 10 s, else the test fails rather than hangs). */
const closedOf = (c: Client): Promise<number> => within(c.closed, 10_000, 'the client connection to close');

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
  await until(() => engine.stats().targets[0]!.inFlight === 0).catch(() => undefined);
  t.equal(engine.stats().targets[0]!.inFlight, 0, 'the connection left in-flight once both sides closed');
});

t.test('a reset by the app resets the client connection (ECONNRESET, not a clean end)', async (t) => {
  const a = await tcpBackend(t, 'A', 'greet');
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const c = await client(t, engine.address().port);
  await until(() => a.sockets.size === 1 && c.data() === 'A');
  [...a.sockets][0]!.resetAndDestroy();
  await closedOf(c);
  t.equal(c.error(), 'ECONNRESET', 'the client saw a reset');
  const r = await engine.drain(a.target, 5_000);
  t.equal(r.drained, true);
});

t.test('a client that resets resets the app connection (ECONNRESET, not a clean end)', async (t) => {
  const a = await tcpBackend(t, 'A', 'greet');
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const c = await client(t, engine.address().port);
  await until(() => a.sockets.size === 1 && c.data() === 'A');
  const appSide = [...a.sockets][0]!;
  let appEnded = false;
  appSide.once('end', () => { appEnded = true; });
  const appClosed = new Promise((r) => appSide.once('close', r));
  c.socket.resetAndDestroy();
  await within(appClosed, 10_000, 'the app connection to close');
  t.same(a.errors, ['ECONNRESET'], 'the app saw a reset');
  t.equal(appEnded, false, 'not a clean end (FIN)');
  t.equal((await engine.drain(a.target, 5_000)).drained, true);
});

t.test('a connection to an unreachable target is reset and counted as an error', async (t) => {
  const engine = await started(t, new TcpEngine(engineOptions()));
  engine.setTargets([{ id: 'dead', host: '127.0.0.1', port: await deadPort() }]);
  const c = await client(t, engine.address().port);
  await closedOf(c);
  t.equal(c.error(), 'ECONNRESET', 'the client is reset');
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
  await until(() => c.data() === 'AA:early').catch(() => undefined);
  t.equal(c.data(), 'AA:early', 'bytes sent while held were delivered once connected');
});

t.test('with no target a held connection is reset at the queue timeout, not before', async (t) => {
  const engine = await started(t, new TcpEngine(engineOptions({ queueTimeoutMs: 300 })));
  const t0 = Date.now();
  const c = await client(t, engine.address().port);
  const closedAt = await closedOf(c);
  t.ok(closedAt - t0 >= 300 - 10, `held for queue_timeout (${closedAt - t0} ms)`);
  t.equal(c.error(), 'ECONNRESET', 'then reset');
  t.equal(engine.stats().errors, 1);
});

// The queue timeout here is longer than any test runs: a connection that were held would never close.
t.test('with no target and hold off, a connection is closed at once, and held ones are closed too', async (t) => {
  const engine = await started(t, new TcpEngine(engineOptions({ queueTimeoutMs: 3_600_000 })));
  const held = await client(t, engine.address().port);
  await until(() => engine.stats().requests === 1);
  engine.setTargets([], { hold: false });
  await closedOf(held);
  t.equal(held.error(), 'ECONNRESET', 'the held connection is reset');
  // It may be reset before 'connect' is even seen, so don't wait for that.
  const refused = await client(t, engine.address().port, { waitConnect: false });
  await closedOf(refused);
  t.equal(refused.error(), 'ECONNRESET', 'a new one is reset at once');
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
    await closedOf(c);
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
  const t0 = Date.now();
  await within(engine.close(500), 10_000, 'close(500)');
  const closeTook = Date.now() - t0;
  const closedAt = await closedOf(c);
  // Lower bounds only: a loaded machine makes both later, never earlier.
  t.ok(closeTook >= 500 - 10, `close() waited for its timeout with a connection open (${closeTook} ms)`);
  t.ok(closedAt - t0 >= 500 - 10, `the connection was left open until then (${closedAt - t0} ms)`);
  t.equal(c.error(), 'ECONNRESET', 'then cut: the client is reset');
  await until(() => a.sockets.size === 0).catch(() => undefined);
  t.equal(a.sockets.size, 0, 'and the app side is closed too');
});
