import t from 'tap';
import { once } from 'node:events';
import type net from 'node:net';
import { spliceEngine, type SpliceEngineOptions } from '../../src/engines/splice.js';
import { client, closeOf, digest, send, engine, pattern, skipReason, until, upstream } from './splice-helpers.js';

const MiB = 1024 * 1024;
const total = 100 * MiB;

t.test('100 MiB each way arrive intact through the splice engine', { skip: skipReason, timeout: 60000 }, async (t) => {
  const expectedUp = digest(pattern('client-to-upstream', total));
  const expectedDown = digest(pattern('upstream-to-client', total));
  let upstreamGot: Promise<{ sha256: string; bytes: number }> | undefined;
  let upstreamSent: Promise<void> | undefined;
  const up = await upstream(t, 'bulk', (s) => {
    upstreamGot = digest(s);
    upstreamSent = send(pattern('upstream-to-client', total), s);
  });
  const e = await engine(t, [up.target]);
  const c = await client(t, e.port);
  const [clientGot] = await Promise.all([digest(c), send(pattern('client-to-upstream', total), c)]);
  await until(() => upstreamGot !== undefined);
  const got = await upstreamGot!;
  await upstreamSent;
  t.same(got, await expectedUp, 'the upstream received every byte the client sent, in order');
  t.same(clientGot, await expectedDown, 'the client received every byte the upstream sent, in order');
  await until(() => e.stats().connections === 0);
  const s = e.stats();
  t.equal(s.bytesIn, total, 'bytesIn counts client -> upstream');
  t.equal(s.bytesOut, total, 'bytesOut counts upstream -> client');
});

t.test('a client that ends its write side still receives the reply', { skip: skipReason, timeout: 60000 }, async (t) => {
  const up = await upstream(t, 'reply-after-end', (s) => {
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('end', () => s.end(`pong:${got}`));
  });
  const e = await engine(t, [up.target]);
  const c = await client(t, e.port);
  c.end('ping');
  let reply = '';
  for await (const chunk of c) reply += chunk;
  t.equal(reply, 'pong:ping');
});

t.test('an upstream that ends first can still be sent to by the client', { skip: skipReason, timeout: 60000 }, async (t) => {
  let received: Promise<string> | undefined;
  const up = await upstream(t, 'ends-first', (s) => {
    s.end('hello');
    received = (async () => {
      let got = '';
      for await (const chunk of s) got += chunk;
      return got;
    })();
  });
  const e = await engine(t, [up.target]);
  const c = await client(t, e.port);
  const closed = closeOf(c);
  let greeting = '';
  c.on('data', (d) => (greeting += d));
  await once(c, 'end');
  t.equal(greeting, 'hello', 'the client got the upstream bytes and its EOF');
  c.end('late words');
  await until(() => received !== undefined);
  t.equal(await received, 'late words', 'bytes after the upstream ended its side still arrive');
  await closed;
  await until(() => e.stats().connections === 0);
  t.equal(e.stats().errors, 0);
});

t.test('an upstream reset mid-stream closes the client and ends the connection', { skip: skipReason, timeout: 60000 }, async (t) => {
  const up = await upstream(t, 'resets', (s) => {
    let n = 0;
    s.on('data', (d) => {
      n += d.length;
      if (n >= 4 * MiB) s.resetAndDestroy();
    });
  });
  const e = await engine(t, [up.target]);
  const c = await client(t, e.port);
  const closed = closeOf(c);
  // Keep writing until the socket dies; the pipeline's own error is expected.
  await send(pattern('endless', 1024 * MiB), c).catch(() => {});
  await closed;
  t.ok(c.destroyed, 'the client side was closed');
  await until(() => e.stats().connections === 0);
  const s = e.stats();
  t.equal(s.targets[0]!.inFlight, 0, 'the engine counts the connection ended');
  t.ok(s.bytesIn >= 4 * MiB, 'bytes moved before the reset are counted');
});

t.test('a client reset mid-stream closes the upstream side', { skip: skipReason, timeout: 60000 }, async (t) => {
  let upstreamClosed: Promise<unknown> | undefined;
  let upSocket: net.Socket | undefined;
  const up = await upstream(t, 'streams', (s) => {
    upSocket = s;
    upstreamClosed = closeOf(s);
    send(pattern('endless-down', 1024 * MiB), s).catch(() => {});
  });
  const e = await engine(t, [up.target]);
  const c = await client(t, e.port);
  let n = 0;
  for await (const chunk of c) {
    n += (chunk as Buffer).length;
    if (n >= 4 * MiB) break;
  }
  c.resetAndDestroy();
  await until(() => upstreamClosed !== undefined);
  await upstreamClosed;
  t.equal(upSocket!.destroyed, true, 'the upstream socket closed');
  await until(() => e.stats().connections === 0);
  t.equal(e.stats().targets[0]!.inFlight, 0, 'the engine counts the connection ended');
});

t.test('bytes the upstream sends before the client speaks are delivered (no read by libuv)', { skip: skipReason, timeout: 60000 }, async (t) => {
  const up = await upstream(t, 'banner', (s) => {
    s.write('220 banner\r\n');
    s.on('data', (d) => s.end(`echo:${d}`));
  });
  const e = await engine(t, [up.target]);
  const c = await client(t, e.port);
  let got = '';
  c.on('data', (d) => {
    got += d;
    if (got === '220 banner\r\n') c.write('hi');
  });
  await once(c, 'end');
  t.equal(got, '220 banner\r\necho:hi');
});

for (const edgeTriggered of [true, false]) {
t.test(`bytes arrive intact with ${edgeTriggered ? 'edge' : 'level'}-triggered epoll, small pipes and small splices`, { skip: skipReason, timeout: 60000 }, async (t) => {
  const size = 20 * MiB;
  const expectedUp = digest(pattern('lt-up', size));
  const expectedDown = digest(pattern('lt-down', size));
  let upstreamGot: Promise<{ sha256: string; bytes: number }> | undefined;
  const up = await upstream(t, 'lt', (s) => {
    upstreamGot = digest(s);
    void send(pattern('lt-down', size), s).catch(() => {});
  });
  const e = spliceEngine.create({
    app: 'splice-lt', host: '127.0.0.1', port: 0, queueTimeoutMs: 1000, log: () => {},
    splice: { edgeTriggered, pipeSize: 4096, chunkSize: 1000, spliceMore: false },
  } as SpliceEngineOptions);
  await e.listen();
  t.teardown(() => e.close(0));
  e.setTargets([up.target]);
  const c = await client(t, e.address().port);
  const [clientGot] = await Promise.all([digest(c), send(pattern('lt-up', size), c)]);
  await until(() => upstreamGot !== undefined);
  t.same(await upstreamGot, await expectedUp, 'client -> upstream intact');
  t.same(clientGot, await expectedDown, 'upstream -> client intact');
});
}

t.test('bytes an upstream sent just before resetting still reach the client', { skip: skipReason, timeout: 60000 }, async (t) => {
  const up = await upstream(t, 'last-words', (s) => {
    s.once('data', () => {
      s.write('last words', () => s.resetAndDestroy());
    });
  });
  const e = await engine(t, [up.target]);
  for (let i = 0; i < 20; i++) {
    const c = await client(t, e.port);
    // A reset right after data reads as EOF on Linux, through the engine as on a direct connection.
    const over = Promise.race([closeOf(c), new Promise((r) => c.once('end', r))]);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    c.write('hi');
    await over;
    t.equal(got, 'last words', `attempt ${i}: the bytes before the reset arrived`);
  }
  await until(() => e.stats().connections === 0);
});

t.test('a client upload still arrives whole after the upstream replied, ended and read slowly', { skip: skipReason, timeout: 60000 }, async (t) => {
  // The upstream answers and ends its side at once, then reads nothing for a while: the client's
  // upload fills every buffer and the pipe, the client ends too, and the rest must follow later.
  const size = 16 * MiB;
  const expected = digest(pattern('slow-reader', size));
  let received: Promise<{ sha256: string; bytes: number }> | undefined;
  const up = await upstream(t, 'slow', (s) => {
    s.end('early reply');
    s.pause();
    setTimeout(() => {
      received = digest(s);
      s.resume();
    }, 300);
  });
  const e = await engine(t, [up.target]);
  const c = await client(t, e.port);
  let reply = '';
  c.setEncoding('utf8');
  c.on('data', (d: string) => (reply += d));
  await send(pattern('slow-reader', size), c);
  await until(() => received !== undefined);
  t.same(await received, await expected, 'every uploaded byte arrived');
  t.equal(reply, 'early reply');
  await until(() => e.stats().connections === 0);
});
