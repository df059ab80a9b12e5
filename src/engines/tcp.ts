/**
 * The tcp engine (engines.tcp): a byte proxy that routes each client connection, once, to one of the
 * app's current targets; a connection stays with the instance it started on until it closes.
 * Half-close is passed through (either side may end its writing while still reading), an error or a
 * reset on one side destroys the other, and a connection counts as in flight until both sockets closed.
 */
import net from 'node:net';
import { boundAddress, listenOn } from './listener.js';
import { TargetSet } from './targets.js';
import type { DrainResult, Engine, EngineDefinition, EngineOptions, EngineStats, SetTargetsOptions, Target, TargetStats } from './engine.js';

/** Per-target counters and drain waiters. */
class TcpTargetState {
  readonly target: Target;
  /** Client connections routed here and not yet fully closed. */
  readonly conns = new Set<net.Socket>();
  /** Upstream sockets of those connections, open right now. */
  upstreamOpen = 0;
  total = 0;
  bytesIn = 0;
  bytesOut = 0;
  waiters: (() => void)[] = [];

  constructor(target: Target) {
    this.target = target;
  }

  settle(): void {
    if (this.conns.size === 0 && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }
}

interface HeldConn {
  socket: net.Socket;
  timer: NodeJS.Timeout;
}

/** The tcp engine. */
export class TcpEngine implements Engine {
  readonly #opts: EngineOptions;
  readonly #server: net.Server;
  /** Every target seen and not forgotten: the current ones (round robin) and those with work in flight. */
  readonly #targets = new TargetSet((t) => new TcpTargetState(t));
  #held: HeldConn[] = [];
  /** Whether new connections wait for a target while there is none (setTargets' `hold`). */
  #hold = true;
  readonly #clients = new Set<net.Socket>();
  #closedBytesIn = 0;
  #closedBytesOut = 0;
  #requests = 0;
  #errors = 0;
  #listening = false;
  #closing = false;

  constructor(opts: EngineOptions) {
    this.#opts = opts;
    // pauseOnConnect: nothing is read from the client until its upstream is connected, so no bytes
    // are buffered in JavaScript while we wait; allowHalfOpen: an ended side can still receive.
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.#onConnection(socket));
  }

  async listen(): Promise<void> {
    await listenOn(this.#server, this.#opts, 'tcp');
    this.#listening = true;
  }

  address(): { host: string; port: number } {
    return boundAddress(this.#server, this.#opts);
  }

  setTargets(targets: Target[], opts: SetTargetsOptions = {}): void {
    this.#hold = opts.hold ?? true;
    const next = this.#targets.set(targets);
    if (next.length > 0 && this.#held.length > 0) {
      const held = this.#held;
      this.#held = [];
      for (const h of held) {
        clearTimeout(h.timer);
        if (!h.socket.destroyed) this.#route(this.#targets.pick()!, h.socket);
      }
    } else if (next.length === 0 && !this.#hold) {
      for (const h of this.#held.splice(0)) {
        clearTimeout(h.timer);
        this.#errors++;
        abort(h.socket);
      }
    }
  }

  async drain(target: Target, timeoutMs: number): Promise<DrainResult> {
    const started = Date.now();
    const st = this.#targets.get(target.id);
    if (!st) return { drained: true, open: 0, elapsedMs: 0 };
    if (st.conns.size > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          const i = st.waiters.indexOf(done);
          if (i >= 0) st.waiters.splice(i, 1);
          resolve();
        }, timeoutMs);
        st.waiters.push(done);
      });
    }
    const open = st.conns.size;
    // Forget a drained target that is no longer current (one entry per instance ever had would grow forever).
    if (open === 0 && !this.#targets.isCurrent(st)) this.#targets.forget(target.id);
    return { drained: open === 0, open, elapsedMs: Date.now() - started };
  }

  stats(): EngineStats {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const s of this.#clients) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    const targets: TargetStats[] = this.#targets.all().map((st) => ({
      id: st.target.id,
      connections: st.upstreamOpen,
      inFlight: st.conns.size,
      total: st.total,
      bytesIn: st.bytesIn,
      bytesOut: st.bytesOut,
    }));
    return { connections: this.#clients.size, requests: this.#requests, errors: this.#errors, bytesIn, bytesOut, targets };
  }

  async close(timeoutMs?: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const closed = this.#listening ? new Promise<void>((resolve) => this.#server.close(() => resolve())) : Promise.resolve();
    for (const h of this.#held.splice(0)) {
      clearTimeout(h.timer);
      abort(h.socket);
    }
    const states = this.#targets.all();
    await Promise.all(states.map((st) => this.drain(st.target, timeoutMs ?? 2_147_483_647)));
    for (const s of this.#clients) abort(s);
    this.#targets.clear();
    await closed;
  }


  #onConnection(socket: net.Socket): void {
    this.#requests++;
    this.#clients.add(socket);
    socket.once('close', () => {
      this.#clients.delete(socket);
      this.#closedBytesIn += socket.bytesRead;
      this.#closedBytesOut += socket.bytesWritten;
    });
    socket.on('error', () => {}); // reported through 'close'; the route below destroys the other side
    if (this.#closing) {
      this.#errors++;
      abort(socket);
      return;
    }
    const st = this.#targets.pick();
    if (st) {
      this.#route(st, socket);
      return;
    }
    if (!this.#hold) {
      this.#errors++;
      abort(socket);
      return;
    }
    // No target: keep the client waiting (paused, nothing read) until one appears or the queue timeout.
    const held: HeldConn = {
      socket,
      timer: setTimeout(() => {
        const i = this.#held.indexOf(held);
        if (i < 0) return;
        this.#held.splice(i, 1);
        this.#errors++;
        abort(socket);
      }, this.#opts.queueTimeoutMs),
    };
    this.#held.push(held);
    socket.once('close', () => {
      const i = this.#held.indexOf(held);
      if (i >= 0) {
        this.#held.splice(i, 1);
        clearTimeout(held.timer);
      }
    });
  }

  /** Connect `client` to `st`'s target and pipe both ways. */
  #route(st: TcpTargetState, client: net.Socket): void {
    st.total++;
    st.conns.add(client);
    st.upstreamOpen++;
    const upstream = net.connect({ host: st.target.host, port: st.target.port, allowHalfOpen: true, noDelay: true });
    let connected = false;
    let closed = 0;
    const sideClosed = (): void => {
      if (++closed < 2) return;
      st.bytesIn += upstream.bytesRead;
      st.bytesOut += upstream.bytesWritten;
      st.conns.delete(client);
      st.settle();
    };
    upstream.once('close', () => {
      st.upstreamOpen--;
      sideClosed();
    });
    client.once('close', sideClosed);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        this.#errors++;
        this.#opts.log('warn', 'upstream connection failed', { app: this.#opts.app, target: st.target.id, error: err.code ?? err.message });
      }
      abort(client);
    });
    client.on('error', () => abort(upstream));
    // A plain end (half-close) is passed on by pipe; errors destroy the other side (above).
    // A client that is fully closed can receive nothing more. An upstream that closed without ending
    // the client (a reset) leaves it useless; one that ended it lets its last bytes flush first.
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => {
      if (!client.writableEnded) abort(client);
    });
    upstream.once('connect', () => {
      connected = true;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}

/**
 * Close `socket` with a reset rather than a FIN, so the peer sees a failure as a failure (a
 * half-open peer would otherwise wait forever on a clean end). A socket still connecting is destroyed.
 */
function abort(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

/** The registry definition of the tcp engine (engines.tcp). */
export const tcpEngine: EngineDefinition = {
  description: 'TCP proxy: per-connection routing, half-close passed through',
  create: (opts) => new TcpEngine(opts),
};
