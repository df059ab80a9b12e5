/**
 * The tcp engine (engines.tcp): a byte proxy that routes each client connection, once, to one of the
 * app's current targets; a connection stays with the instance it started on until it closes.
 * Half-close is passed through (either side may end its writing while still reading), an error or a
 * reset on one side destroys the other, and a connection counts as in flight until both sockets closed.
 */
import net from 'node:net';
import type { EngineDefinition, EngineOptions, EngineStats } from '../plugins/engine.js';
import { BaseEngine, ClientSockets, ConnectionCap } from './base-engine.js';
import { TargetState, trackPair } from './targets.js';

/** Per-target counters: the client connections routed here and not yet fully closed. */
class TcpTargetState extends TargetState {
  readonly conns = new Set<net.Socket>();
  /** Upstream sockets of those connections, open right now. */
  upstreamOpen = 0;

  override open(): number {
    return this.conns.size;
  }
}

/** The tcp engine. Held work is a client socket, paused, nothing read yet. */
export class TcpEngine extends BaseEngine<TcpTargetState, net.Socket> {
  readonly #clients = new ClientSockets();
  readonly #cap: ConnectionCap;

  constructor(opts: EngineOptions) {
    // pauseOnConnect: nothing is read from the client until its upstream is connected, so no bytes
    // are buffered in JavaScript while we wait; allowHalfOpen: an ended side can still receive.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    super(opts, server, 'tcp', (t) => new TcpTargetState(t));
    this.#cap = new ConnectionCap(opts.maxConnections, opts.budget);
    server.on('connection', (socket: net.Socket) => this.#onConnection(socket));
  }

  stats(): EngineStats {
    return this.statsOf(this.#clients, (st) => st.upstreamOpen);
  }

  async close(timeoutMs?: number): Promise<void> {
    const closed = this.stopListening();
    if (!closed) return;
    for (const socket of this.held.takeAll()) abort(socket);
    const states = this.targets.all();
    await Promise.all(states.map((st) => this.drain(st.target, timeoutMs ?? Infinity)));
    for (const s of this.#clients.open) abort(s);
    this.targets.clear();
    await closed;
  }

  protected release(st: TcpTargetState, socket: net.Socket): void {
    if (!socket.destroyed) this.#route(st, socket);
  }

  protected refuse(socket: net.Socket): void {
    this.errors++;
    abort(socket);
  }

  #onConnection(socket: net.Socket): void {
    this.requests++;
    socket.on('error', () => {}); // reported through 'close'; the route below destroys the other side
    // At max_connections (or the daemon-wide cap) a new connection is refused: every open one is
    // a client's, and none can be told apart as idle.
    if (!this.#cap.admit(socket, () => null)) {
      this.refuse(socket);
      return;
    }
    this.#clients.add(socket);
    if (this.closing) {
      this.refuse(socket);
      return;
    }
    const st = this.targets.pick();
    if (st) {
      this.#route(st, socket);
      return;
    }
    // No target: keep the client waiting (paused, nothing read) until one appears or the queue timeout.
    this.holdOrRefuse(socket, (stop) => socket.once('close', stop));
  }

  /** Connect `client` to `st`'s target and pipe both ways. */
  #route(st: TcpTargetState, client: net.Socket): void {
    st.total++;
    st.conns.add(client);
    st.upstreamOpen++;
    const upstream = net.connect({ host: st.target.host, port: st.target.port, allowHalfOpen: true, noDelay: true });
    let connected = false;
    upstream.once('close', () => st.upstreamOpen--);
    trackPair(st, client, upstream, () => st.conns.delete(client));
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        this.errors++;
        this.opts.log('warn', 'upstream connection failed', { app: this.opts.app, target: st.target.id, error: err.code ?? err.message });
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
