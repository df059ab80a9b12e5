import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { loadSpliceAddon, type SpliceEnd } from '../../src/engines/splice-addon.js';
import { closeOf, echo, skipReason, until } from './splice-helpers.js';

/** A connected pair through a bare Splicer: what the engine does, without the engine. */
async function pair(t: Tap.Test, onEnd: (e: SpliceEnd) => void) {
  const addon = loadSpliceAddon().addon!;
  const splicer = new addon.Splicer(onEnd);
  t.teardown(() => splicer.close());
  const up = await echo(t, 'echo');
  const front = net.createServer({ pauseOnConnect: true });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  t.teardown(() => new Promise<void>((r) => front.close(() => r())));
  const ids: Promise<number> = new Promise((resolve) => {
    front.once('connection', (cl: net.Socket) => {
      const u = net.connect(up.target.port, '127.0.0.1');
      u.pause();
      u.once('connect', () => {
        const fd = (s: net.Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;
        resolve(splicer.add(fd(cl), fd(u)));
        cl.destroy();
        u.destroy();
      });
    });
  });
  const c = net.connect({ port: (front.address() as net.AddressInfo).port, host: '127.0.0.1' });
  c.on('error', () => {});
  t.teardown(() => c.destroy());
  return { splicer, client: c, id: await ids };
}

t.test('abort(id) resets both sides and reports the connection aborted', { skip: skipReason }, async (t) => {
  const ends: SpliceEnd[] = [];
  const { splicer, client, id } = await pair(t, (e) => ends.push(e));
  client.write('ping');
  client.setEncoding('utf8');
  let got = '';
  client.on('data', (d: string) => (got += d));
  await until(() => got === 'ping');
  const counters = splicer.counters();
  t.same([...counters], [id, 4, 4], 'live counters: [id, bytesIn, bytesOut]');
  t.equal(splicer.open, 1);
  const closed = closeOf(client);
  splicer.abort(id);
  await closed;
  await until(() => ends.length === 1);
  t.match(ends[0], { id, reason: 'aborted', bytesIn: 4, bytesOut: 4 });
  t.equal(splicer.open, 0);
  t.same([...splicer.counters()], [], 'no counters once it ended');
});

t.test('add() refuses fds that are not open, and anything after close()', { skip: skipReason }, async (t) => {
  const addon = loadSpliceAddon().addon!;
  const splicer = new addon.Splicer(() => {});
  t.throws(() => splicer.add(987654, 987655), { code: 'EBADF' });
  t.equal(splicer.open, 0, 'a refused pair is not counted');
  splicer.close();
  splicer.close();
  t.throws(() => splicer.add(0, 1), { code: 'ESHUTDOWN' });
  t.match(splicer.options, { pipeSize: 1048576, chunkSize: 1048576, edgeTriggered: false, spliceMore: true, growPipes: true });
});

t.test('close() resets every open pair and reports each one aborted', { skip: skipReason }, async (t) => {
  const ends: SpliceEnd[] = [];
  const { splicer, client } = await pair(t, (e) => ends.push(e));
  await until(() => splicer.open === 1 && splicer.counters().length === 3);
  const closed = closeOf(client);
  splicer.close();
  await closed;
  await until(() => ends.length === 1);
  t.equal(ends[0]!.reason, 'aborted');
});
