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
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { EngineDefinition, EngineOptions, EngineStats, Target } from '../../plugins/engine.js';
import { BaseEngine, ClientSockets } from '../base-engine.js';
import { Exchange, type ExchangeOwner } from './exchange.js';
import { forwardedHeaders } from './headers.js';
import { BODY_503, endSocket, sendError } from './responses.js';
import { HttpTargetState } from './target-state.js';
import { pipeUpgrade } from './upgrade.js';

/** How long a client keep-alive connection may sit idle, ms (longer than most clients' own idle timeout). */
const CLIENT_KEEP_ALIVE_MS = 65_000;

/** A request (or an upgrade, with its socket and head) held while there is no target. */
interface Held {
  req: http.IncomingMessage;
  res: http.ServerResponse | null;
  socket: Duplex | null;
  head: Buffer | null;
}

/** The http engine. */
export class HttpEngine extends BaseEngine<HttpTargetState, Held> implements ExchangeOwner {
  readonly #clients = new ClientSockets();
  readonly #onClientClose = function onClientClose(this: http.ServerResponse): void {
    (this as unknown as { gvExchange?: Exchange }).gvExchange?.onClientClose();
  };

  constructor(opts: EngineOptions) {
    const server = http.createServer({
      keepAliveTimeout: CLIENT_KEEP_ALIVE_MS,
      // Slow clients and long requests are the app's business; the engine itself never cuts them.
      requestTimeout: 0,
      headersTimeout: 60_000,
      noDelay: true,
    });
    super(opts, server, 'http', (t) => new HttpTargetState(t));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.#onRequest(req, res));
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    server.on('connection', (socket) => this.#clients.add(socket));
    // No 'clientError' listener on purpose: node's default answers malformed requests with 400, 431 or
    // 408 as fits, and destroys the socket without throwing.
  }

  stats(): EngineStats {
    return this.statsOf(this.#clients, (st) => (st.pool?.stats.connected ?? 0) + st.upgrades.size);
  }

  async close(timeoutMs?: number): Promise<void> {
    const closed = this.stopListening();
    if (!closed) return;
    const server = this.server as http.Server;
    server.closeIdleConnections();
    for (const h of this.held.takeAll()) this.refuse(h);
    const states = this.targets.all();
    await Promise.all(states.map((st) => this.drain(st.target, timeoutMs ?? Infinity)));
    server.closeAllConnections();
    for (const st of states) {
      for (const s of st.upgrades) s.destroy();
      st.pool?.destroy().catch(() => {});
      st.pool = null;
    }
    this.targets.clear();
    await closed;
  }

  /** ExchangeOwner: the first attempt failed before any response; one more try, on a current target. */
  retry(ex: Exchange): void {
    const st = this.targets.pick();
    if (st === null) {
      this.errors++;
      sendError(ex.res, 503, BODY_503);
      return;
    }
    this.#dispatch(st, ex.req, ex.res, ex.headers, ex.hasBody, true);
  }

  countError(): void {
    this.errors++;
  }

  logUpstreamError(target: Target, err: Error): void {
    this.opts.log('warn', 'upstream request failed', { app: this.opts.app, target: target.id, error: (err as { code?: string }).code ?? err.message });
  }

  /** Stop reusing the target's idle keep-alive connections; busy ones close as their requests end. */
  protected override beforeDrain(st: HttpTargetState): void {
    st.closePool();
  }

  protected release(st: HttpTargetState, h: Held): void {
    if (h.res) {
      if (!h.res.destroyed) this.#forward(st, h.req, h.res);
    } else if (h.socket && !h.socket.destroyed) {
      pipeUpgrade(this, st, h.req, h.socket, h.head ?? Buffer.alloc(0));
    }
  }

  /** Answer held (or unholdable) work 503. */
  protected refuse(h: Held): void {
    this.errors++;
    if (h.res) sendError(h.res, 503, BODY_503);
    else if (h.socket) endSocket(h.socket, 503, BODY_503);
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    if (this.closing) {
      res.shouldKeepAlive = false;
      this.errors++;
      sendError(res, 503, BODY_503);
      return;
    }
    const st = this.targets.pick();
    if (st === null) {
      this.holdOrRefuse({ req, res, socket: null, head: null }, (stop) => res.once('close', stop));
      return;
    }
    this.#forward(st, req, res);
  }

  #forward(st: HttpTargetState, req: http.IncomingMessage, res: http.ServerResponse): void {
    const { headers, hasBody, contentLength } = forwardedHeaders(req, false);
    st.bytesOut += contentLength;
    res.on('close', this.#onClientClose);
    this.#dispatch(st, req, res, headers, hasBody, false);
  }

  #dispatch(st: HttpTargetState, req: http.IncomingMessage, res: http.ServerResponse, headers: string[], hasBody: boolean, retried: boolean): void {
    const ex = new Exchange(this, st, req, res, headers, hasBody, retried);
    (res as unknown as { gvExchange?: Exchange }).gvExchange = ex;
    st.inFlight++;
    st.total++;
    try {
      st.getPool().dispatch({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers, body: hasBody ? req : null }, ex);
    } catch (err) {
      ex.onResponseError(null as unknown as Dispatcher.DispatchController, err as Error);
    }
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.requests++;
    socket.on('error', () => {});
    if (this.closing) {
      this.errors++;
      endSocket(socket, 503, BODY_503);
      return;
    }
    const st = this.targets.pick();
    if (st === null) {
      socket.pause();
      this.holdOrRefuse({ req, res: null, socket, head }, (stop) => socket.once('close', stop));
      return;
    }
    pipeUpgrade(this, st, req, socket, head);
  }
}

/** The registry definition of the http engine (engines.http). */
export const httpEngine: EngineDefinition = {
  description: 'HTTP/1.1 reverse proxy: per-request routing, keep-alive both sides, WebSocket upgrades, retry of idempotent requests',
  create: (opts) => new HttpEngine(opts),
};
