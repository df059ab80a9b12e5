/**
 * Shared pieces of the splice engine tests: real upstream servers on 127.0.0.1:0, deterministic
 * byte streams that are never held in memory whole, fd counting, and polling instead of sleeping.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { Engine, Target } from '../../src/plugins/engine.js';
import { spliceEngine } from '../../src/engines/splice.js';
import { loadSpliceAddon } from '../../src/engines/splice-addon.js';

/** Why the splice tests are skipped, or false: they must run wherever the addon builds. */
export const skipReason: string | false = loadSpliceAddon().reason ?? false;

/** Starts a TCP server on 127.0.0.1:0 and closes it (and every socket it accepted) in teardown. */
export async function upstream(t: Tap.Test, id: string, onSocket: (s: net.Socket) => void): Promise<{ server: net.Server; target: Target; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as net.AddressInfo).port;
  return { server, sockets, target: { id, host: '127.0.0.1', port } };
}

/** An echo upstream. */
export function echo(t: Tap.Test, id: string) {
  return upstream(t, id, (s) => s.pipe(s));
}

/** A listening splice engine with the given targets, closed in teardown. */
export async function engine(t: Tap.Test, targets: Target[], opts: { queueTimeoutMs?: number } = {}): Promise<Engine & { port: number }> {
  const logs: unknown[] = [];
  const e = spliceEngine.create({ app: 'splice-test', host: '127.0.0.1', port: 0, queueTimeoutMs: opts.queueTimeoutMs ?? 5000, log: (...a) => logs.push(a) });
  await e.listen();
  // Bounded: an engine whose close() never resolves (a connection it never counts out) must fail its
  // test, not hold the file until tap's timeout. The test that cares asserts close() itself.
  t.teardown(() => Promise.race([e.close(0), new Promise<void>((r) => setTimeout(r, 5_000).unref())]));
  e.setTargets(targets);
  return Object.assign(e, { port: e.address().port });
}

/** A client through the engine, destroyed in teardown. */
const errors = new WeakMap<net.Socket, string>();

/** The error code a client socket failed with (ECONNRESET for a reset), or null when it closed cleanly. */
export function errorOf(socket: net.Socket): string | null {
  return errors.get(socket) ?? null;
}

export async function client(t: Tap.Test, port: number): Promise<net.Socket> {
  const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  c.on('error', (err: NodeJS.ErrnoException) => { if (!errors.has(c)) errors.set(c, err.code ?? err.message); });
  t.teardown(() => c.destroy());
  await once(c, 'connect');
  return c;
}

/**
 * Resolves when `socket` closes, whether or not it errored first (events.once would reject); rejects
 * after `limitMs`, so a socket that never closes fails its test instead of hanging it.
 */
export function closeOf(socket: net.Socket, limitMs = 20000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.closed) return resolve();
    const timer = setTimeout(() => reject(new Error(`socket not closed after ${limitMs} ms`)), limitMs);
    socket.once('close', () => { clearTimeout(timer); resolve(); });
  });
}

/** Polls `cond` every few ms until it holds; fails after `limitMs` (a bound for hangs, not a timing assert). */
export async function until(cond: () => boolean, limitMs = 20000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Open fds of this process, and how many of them are pipes. */
export function fdCount(): { all: number; pipes: number } {
  let pipes = 0;
  const fds = readdirSync('/proc/self/fd');
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:')) pipes++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return { all: fds.length, pipes };
}

/**
 * `total` bytes derived from `seed`, in 64 KiB chunks made on demand. Each chunk is a seeded block
 * with its index stamped in, so a reordered or repeated chunk changes the checksum.
 */
export function pattern(seed: string, total: number): Readable {
  const size = 64 * 1024;
  const base = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(base, off);
    block = createHash('sha256').update(block).digest();
  }
  let sent = 0;
  let index = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(size, total - sent);
      const chunk = Buffer.from(base.subarray(0, n));
      chunk.writeUInt32BE(index++ >>> 0, 0);
      sent += n;
      this.push(chunk);
    },
  });
}

/**
 * Writes `source` into `socket` and ends it; resolves on 'finish'. Not stream.pipeline: on Node 20 it
 * may destroy a duplex destination that is still being read once the write side finishes.
 */
export function send(source: Readable, socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('finish', resolve);
    socket.once('error', reject);
    source.pipe(socket);
  });
}

/**
 * sha256 and length of everything `stream` yields. Listens for events rather than iterating: the
 * async iterator destroys a socket whose read side ends while its write side is still busy.
 */
export function digest(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      h.update(chunk);
      bytes += chunk.length;
    });
    stream.once('end', () => resolve({ sha256: h.digest('hex'), bytes }));
    stream.once('error', reject);
  });
}

/** Sends one message on a fresh connection and resolves with everything read until the server ends. */
export async function roundTrip(port: number, message: string): Promise<string> {
  const c = net.connect({ port, host: '127.0.0.1' });
  try {
    await once(c, 'connect');
    c.end(message);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    await once(c, 'end');
    return got;
  } finally {
    c.destroy();
  }
}
