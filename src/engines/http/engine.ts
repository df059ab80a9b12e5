/**
 * The http engine (engines.http): an HTTP/1.1 reverse proxy that routes every request, not every
 * connection, to the app's current target, so a client's keep-alive connection moves to a new
 * instance on its next request.
 *
 * Transport, chosen by measurement (docs/bench.md): a node:http server in front and one undici `Pool`
 * per target behind (./target-state.ts), driven through the low-level `dispatch()` handler API
 * (./exchange.ts: no promise, no stream wrapper per request). Upgrades are a raw byte pipe
 * (./upgrade.ts). Headers are rewritten in one pass (./headers.ts).
 */
import http from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { EngineDefinition, EngineOptions, EngineStats, SetTargetsOptions, Target } from '../../plugins/engine.js';
import { BaseEngine, ClientSockets, ConnectionCap } from '../base-engine.js';
import { HttpCounters } from './counters.js';
import { Exchange, MAX_ATTEMPTS, type ExchangeOwner } from './exchange.js';
import { forwardedHeaders, requestTarget, type RequestTarget } from './headers.js';
import { BODY_503, endSocket, sendError } from './responses.js';
import { HttpTargetState, type PoolTimeouts } from './target-state.js';
import { pipeUpgrade } from './upgrade.js';

/** The engine's timers when the app's config does not set them (src/config/defaults.ts has the same). */
const DEFAULT_KEEP_ALIVE_MS = 65_000;
const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000;
const DEFAULT_UPSTREAM_IDLE_MS = 1_000;

/**
 * A retry whose failed target is the only one: how long it waits for the supervisor to replace that
 * target (an instance that died is noticed within milliseconds) before it is sent to it once more.
 */
const RETRY_GRACE_MS = 1_000;

/** A retiring engine closes client connections that stayed idle this long, ms. */
const RETIRE_IDLE_MS = 1_000;

/** Work held while there is no target: a request (or an upgrade, with its socket and head), or a retry (`retry`). */
interface Held {
  req: http.IncomingMessage;
  res: http.ServerResponse | null;
  socket: Duplex | null;
  head: Buffer | null;
  retry: Exchange | null;
}

/** The http engine. */
export class HttpEngine extends BaseEngine<HttpTargetState, Held> implements ExchangeOwner {
  readonly #clients = new ClientSockets();
  readonly #cap: ConnectionCap;
  /** Client sockets that have not sent a complete request head yet, oldest first: shed first at the cap. */
  readonly #headless = new Set<Socket>();
  /** Client sockets between requests (keep-alive), longest idle first: shed next. */
  readonly #idle = new Set<Socket>();
  readonly #trusted: BlockList | null;
  readonly #pool: PoolTimeouts;
  /** Retries waiting for the only target, which just failed them, to be replaced (see {@link retry}). */
  readonly #retrying = new Map<Exchange, NodeJS.Timeout>();
  /** Handing over to a successor daemon: see {@link retire}. */
  #retiring = false;
  readonly #counters = new HttpCounters();
  /** When each response's request arrived (performance.now()), for the latency histogram. */
  readonly #arrived = new WeakMap<http.ServerResponse, number>();
  readonly #onClientClose = function onClientClose(this: http.ServerResponse): void {
    (this as unknown as { gvExchange?: Exchange }).gvExchange?.onClientClose();
  };

  constructor(opts: EngineOptions) {
    const headerTimeout = opts.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS;
    const server = http.createServer({
      keepAliveTimeout: opts.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
      // A client that has not sent its whole request head in time gets 408 (slowloris); node checks
      // on this interval, so it is kept short next to the timeout.
      headersTimeout: headerTimeout,
      // A larger request head gets 431 (node answers it).
      maxHeaderSize: opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headerTimeout / 4))),
      // A slow upload and a long request are the app's business: the engine does not cut them.
      requestTimeout: 0,
      noDelay: true,
    });
    super(opts, server, 'http', (t) => new HttpTargetState(t, this.#pool));
    this.#pool = { upstreamTimeoutMs: opts.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS, upstreamIdleMs: opts.upstreamIdleMs ?? DEFAULT_UPSTREAM_IDLE_MS };
    this.#cap = new ConnectionCap(opts.maxConnections, opts.budget);
    this.#trusted = trustedList(opts.trustedProxies ?? []);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.#onRequest(req, res));
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    server.on('connection', (socket: Socket) => this.#onConnection(socket));
    // No 'clientError' listener on purpose: node's default answers malformed requests with 400, 431 or
    // 408 as fits, and destroys the socket without throwing.
  }

  stats(): EngineStats {
    return { ...this.statsOf(this.#clients, (st) => (st.pool?.stats.connected ?? 0) + st.upgrades.size), http: this.#counters.snapshot() };
  }

  /**
   * The Engine contract's retire (a successor daemon accepts now): requests on open connections are
   * still forwarded, each answered with `Connection: close`; idle keep-alive connections are closed
   * after {@link RETIRE_IDLE_MS} (a client that sent nothing for that long reconnects, to the
   * successor); once no client connection is left, or after `timeoutMs`, the rest is closed.
   */
  async retire(timeoutMs: number): Promise<void> {
    const stopped = this.stopListening({ keepIdle: true });
    if (!stopped) return;
    this.#retiring = true;
    const server = this.server as http.Server;
    const deadline = performance.now() + timeoutMs;
    let idleSweep = performance.now() + RETIRE_IDLE_MS;
    while (this.#clients.open.size > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      if (performance.now() >= idleSweep) {
        server.closeIdleConnections();
        idleSweep = performance.now() + RETIRE_IDLE_MS;
      }
    }
    await this.#release(0, stopped);
  }

  async close(timeoutMs?: number): Promise<void> {
    const stopped = this.stopListening();
    if (!stopped) return;
    (this.server as http.Server).closeIdleConnections();
    await this.#release(timeoutMs ?? Infinity, stopped);
  }

  /** After the listener stopped: refuse what is held, drain every target (up to `timeoutMs`), close the rest. */
  async #release(timeoutMs: number, stopped: Promise<void>): Promise<void> {
    const server = this.server as http.Server;
    for (const h of this.held.takeAll()) this.refuse(h);
    for (const [ex, timer] of this.#retrying) {
      clearTimeout(timer);
      this.refuse({ req: ex.req, res: ex.res, socket: null, head: null, retry: ex });
    }
    this.#retrying.clear();
    const states = this.targets.all();
    await Promise.all(states.map((st) => this.drain(st.target, timeoutMs)));
    server.closeAllConnections();
    for (const st of states) {
      for (const s of st.upgrades) s.destroy();
      st.pool?.destroy().catch(() => {});
      st.pool = null;
    }
    this.targets.clear();
    await stopped;
  }

  /**
   * ExchangeOwner: an attempt failed before any response; send it again, to a current target other
   * than the one that failed. When that one is the only target: a reused keep-alive connection the
   * app had closed under it (a reset, not a refused connect) says nothing about the instance, so the
   * request goes again at once on a fresh connection; a refused connect, or a fresh connection that
   * failed too, may mean the instance died, so the retry waits a moment ({@link RETRY_GRACE_MS}) for
   * the supervisor to replace it. With no target at all it waits like a new request, up to
   * queue_timeout.
   */
  retry(ex: Exchange, code: string): void {
    const next = ex.attempt + 1;
    const other = this.targets.pickOther(ex.st);
    if (other !== null) {
      this.#dispatch(other, ex.req, ex.res, ex.headers, ex.hasBody, next);
      return;
    }
    if (this.targets.current.length === 0) {
      this.#holdRetry(ex);
      return;
    }
    if (code !== 'ECONNREFUSED' && ex.fresh === null && next < MAX_ATTEMPTS - 1) {
      this.#dispatch(ex.st, ex.req, ex.res, ex.headers, ex.hasBody, next, undefined, true);
      return;
    }
    const timer = setTimeout(() => {
      this.#retrying.delete(ex);
      // Not replaced in time: the target is still there, so it gets the last try.
      const st = this.targets.pick();
      if (st) this.#dispatch(st, ex.req, ex.res, ex.headers, ex.hasBody, MAX_ATTEMPTS - 1);
      else this.#holdRetry(ex);
    }, Math.min(RETRY_GRACE_MS, this.opts.queueTimeoutMs));
    this.#retrying.set(ex, timer);
    ex.res.once('close', () => {
      clearTimeout(timer);
      this.#retrying.delete(ex);
    });
  }

  override setTargets(targets: Target[], opts: SetTargetsOptions = {}): void {
    super.setTargets(targets, opts);
    for (const [ex, timer] of this.#retrying) {
      const other = this.targets.pickOther(ex.st);
      if (other === null && this.targets.current.length > 0) continue;
      clearTimeout(timer);
      this.#retrying.delete(ex);
      if (other !== null) this.#dispatch(other, ex.req, ex.res, ex.headers, ex.hasBody, MAX_ATTEMPTS - 1);
      else this.#holdRetry(ex);
    }
  }

  #holdRetry(ex: Exchange): void {
    if (ex.res.destroyed) return;
    this.holdOrRefuse({ req: ex.req, res: ex.res, socket: null, head: null, retry: ex }, (stop) => ex.res.once('close', stop));
  }

  countError(): void {
    this.errors++;
  }

  answer(res: http.ServerResponse, status: number, body: string): void {
    this.errors++;
    if (!res.headersSent && !res.destroyed) this.#counters.answer(status);
    sendError(res, status, body);
    this.finished(res);
  }

  responded(status: number): void {
    this.#counters.response(status);
  }

  finished(res: http.ServerResponse): void {
    const t0 = this.#arrived.get(res);
    if (t0 === undefined) return;
    this.#arrived.delete(res);
    this.#counters.observe((performance.now() - t0) / 1000);
  }

  logUpstreamError(target: Target, err: Error): void {
    this.opts.log('warn', 'upstream request failed', { app: this.opts.app, target: target.id, error: (err as { code?: string }).code ?? err.message });
  }

  /** Stop reusing the target's idle keep-alive connections; busy ones close as their requests end. */
  protected override beforeDrain(st: HttpTargetState): void {
    st.closePool();
  }

  protected release(st: HttpTargetState, h: Held): void {
    if (h.retry) {
      if (!h.res!.destroyed) this.#dispatch(st, h.req, h.res!, h.retry.headers, h.retry.hasBody, MAX_ATTEMPTS - 1);
    } else if (h.res) {
      if (!h.res.destroyed) this.#forward(st, h.req, h.res);
    } else if (h.socket && !h.socket.destroyed) {
      this.#upgrade(st, h.req, h.socket, h.head ?? Buffer.alloc(0));
    }
  }

  /** Answer held (or unholdable) work 503. */
  protected refuse(h: Held): void {
    if (h.res) this.answer(h.res, 503, BODY_503);
    else if (h.socket) {
      this.errors++;
      endSocket(h.socket, 503, BODY_503);
    }
  }

  /**
   * A new client connection: counted against max_connections and the daemon-wide budget; at a cap
   * the oldest connection that never sent a complete request head is closed to make room, then the
   * one idle longest between requests, and when every one is busy the new one is refused.
   */
  #onConnection(socket: Socket): void {
    if (!this.#cap.admit(socket, () => first(this.#headless) ?? first(this.#idle))) {
      this.errors++;
      socket.destroy();
      return;
    }
    this.#clients.add(socket);
    this.#headless.add(socket);
    socket.once('close', () => {
      this.#headless.delete(socket);
      this.#idle.delete(socket);
    });
  }

  /** The socket is serving a request now: neither headless nor idle; idle again once its response is done. */
  #busy(socket: Socket, res: http.ServerResponse | null): void {
    this.#headless.delete(socket);
    this.#idle.delete(socket);
    if (res) {
      res.once('finish', () => {
        if (!socket.destroyed) this.#idle.add(socket);
      });
    }
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    this.#arrived.set(res, performance.now());
    this.#busy(req.socket, res);
    if (this.#retiring) {
      // A successor daemon accepts now: this one serves what its open connections send, once each.
      res.shouldKeepAlive = false;
    } else if (this.closing) {
      res.shouldKeepAlive = false;
      this.answer(res, 503, BODY_503);
      return;
    }
    const st = this.targets.pick();
    if (st === null) {
      this.holdOrRefuse({ req, res, socket: null, head: null, retry: null }, (stop) => res.once('close', stop));
      return;
    }
    this.#forward(st, req, res);
  }

  #forward(st: HttpTargetState, req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = requestTarget(req);
    if ('bad' in target) {
      res.shouldKeepAlive = false;
      this.answer(res, 400, `Bad Request: ${target.bad}\n`);
      return;
    }
    const { headers, hasBody, contentLength } = forwardedHeaders(req, { upgrade: false, trusted: this.#isTrusted(req), host: target.host });
    st.bytesOut += contentLength;
    res.on('close', this.#onClientClose);
    this.#dispatch(st, req, res, headers, hasBody, 0, target.path);
  }

  /** Send one attempt to `st`: through its pool, or on a connection of its own when `fresh`. */
  #dispatch(st: HttpTargetState, req: http.IncomingMessage, res: http.ServerResponse, headers: string[], hasBody: boolean, attempt: number, path?: string, fresh = false): void {
    const client = fresh ? st.freshClient() : null;
    const ex = new Exchange(this, st, req, res, headers, hasBody, attempt, path ?? (res as unknown as { gvExchange?: Exchange }).gvExchange?.path ?? req.url ?? '/', client);
    (res as unknown as { gvExchange?: Exchange }).gvExchange = ex;
    st.inFlight++;
    st.total++;
    try {
      (client ?? st.getPool()).dispatch({ method: req.method as Dispatcher.HttpMethod, path: ex.path, headers, body: hasBody ? req : null }, ex);
    } catch (err) {
      ex.onResponseError(null as unknown as Dispatcher.DispatchController, err as Error);
    }
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.requests++;
    this.#busy(req.socket, null);
    socket.on('error', () => {});
    if (this.closing) {
      this.errors++;
      endSocket(socket, 503, BODY_503);
      return;
    }
    const st = this.targets.pick();
    if (st === null) {
      socket.pause();
      this.holdOrRefuse({ req, res: null, socket, head, retry: null }, (stop) => socket.once('close', stop));
      return;
    }
    this.#upgrade(st, req, socket, head);
  }

  #upgrade(st: HttpTargetState, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = requestTarget(req);
    if ('bad' in target) {
      this.errors++;
      if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
      return;
    }
    pipeUpgrade(this, st, req, socket, head, target, this.#isTrusted(req));
  }

  #isTrusted(req: http.IncomingMessage): boolean {
    const addr = req.socket.remoteAddress;
    if (!this.#trusted || !addr) return false;
    const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
    return this.#trusted.check(v4, isIP(v4) === 6 ? 'ipv6' : 'ipv4');
  }
}

/** The first element of a set (its oldest, sets keep insertion order), or null. */
function first<T>(set: Set<T>): T | null {
  for (const x of set) return x;
  return null;
}

/** A BlockList of trusted proxy addresses and CIDR blocks (already validated by the config), or null when none. */
function trustedList(entries: readonly string[]): BlockList | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

/** What both http implementations do, for `plugins list`. */
export const HTTP_ENGINE_DESCRIPTION = 'HTTP/1.1 reverse proxy: per-request routing, keep-alive both sides, WebSocket upgrades, retry of idempotent requests';

/**
 * The JavaScript implementation's registry definition (engines.http_js, and engines.http where the
 * native data plane is missing: ../http-select.ts).
 */
export const httpJsEngine: EngineDefinition = {
  description: `${HTTP_ENGINE_DESCRIPTION} (JavaScript, on the main event loop)`,
  create: (opts) => new HttpEngine(opts),
};
