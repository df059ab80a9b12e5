/**
 * The http engine (engines.http): an HTTP/1.1 reverse proxy that routes every request, not every
 * connection, to the app's current target, so a client's keep-alive connection moves to a new
 * instance on its next request.
 *
 * Transport, chosen by measurement (docs/bench.md): a node:http server in front and one undici `Pool`
 * per target behind, driven through the low-level `dispatch()` handler API (no promise, no stream
 * wrapper per request). Against a fast keep-alive backend on this 2-core machine, with wrk -c50, that
 * forwarded about 1.5× what a node:http server forwarding through an `http.Agent({ keepAlive })` did,
 * and about 2.4× http-proxy-3.
 *
 * Upgrades (WebSocket and others) are forwarded as a raw byte pipe once the request head is written,
 * and count as in-flight work of their target until both sockets are closed.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { boundAddress, listenOn } from './listener.js';
import { TargetSet } from './targets.js';
import type { DrainResult, Engine, EngineDefinition, EngineOptions, EngineStats, SetTargetsOptions, Target, TargetStats } from './engine.js';

/** Connections one target's pool may open. Far above what an app instance needs, but bounded. */
const MAX_UPSTREAM_CONNECTIONS = 512;
/** How long a client keep-alive connection may sit idle, ms (longer than most clients' own idle timeout). */
const CLIENT_KEEP_ALIVE_MS = 65_000;
/** Methods that may be sent twice: retried once when the connection failed before any response. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Upstream failures that mean the request never reached the app: safe to retry an idempotent one. */
const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
/** Response headers that describe the upstream connection, not the message (RFC 9110 §7.6.1). */
const RESPONSE_HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'trailer', 'upgrade', 'te'];

const BODY_502 = 'Bad Gateway: the app instance cannot be reached\n';
const BODY_503 = 'Service Unavailable: no app instance is ready\n';

/** What the engine knows about one target, for as long as any work of it is in flight. */
class TargetState {
  readonly target: Target;
  pool: Pool | null = null;
  /** Requests dispatched and not finished; upgraded sockets are counted in `upgrades`. */
  inFlight = 0;
  readonly upgrades = new Set<Duplex>();
  total = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** drain() callers waiting for this target to be idle. */
  waiters: (() => void)[] = [];

  constructor(target: Target) {
    this.target = target;
  }

  /** The pool for new work, made on first use and after a drain closed the previous one. */
  getPool(): Pool {
    if (this.pool === null) {
      this.pool = new Pool(`http://${hostForUrl(this.target.host)}:${this.target.port}`, {
        connections: MAX_UPSTREAM_CONNECTIONS,
        pipelining: 1,
        // Hand sockets back to the app quickly when idle; the app's keep-alive header may shorten it.
        keepAliveTimeout: 4_000,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
    }
    return this.pool;
  }

  open(): number {
    return this.inFlight + this.upgrades.size;
  }

  /** Called whenever work of this target finishes. */
  settle(): void {
    if (this.open() === 0 && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }
}

/** A request held while there is no target, released by setTargets or answered 503 at queueTimeoutMs. */
interface Held {
  req: http.IncomingMessage;
  res: http.ServerResponse | null;
  socket: Duplex | null;
  head: Buffer | null;
  timer: NodeJS.Timeout;
}

/**
 * One proxied request: the undici dispatch handler. A class rather than closures so the hot path
 * allocates one object per request.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly engine: HttpEngine;
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly headers: string[];
  readonly hasBody: boolean;
  st: TargetState;
  retried: boolean;
  controller: Dispatcher.DispatchController | null = null;
  responded = false;
  done = false;

  constructor(engine: HttpEngine, st: TargetState, req: http.IncomingMessage, res: http.ServerResponse, headers: string[], hasBody: boolean, retried: boolean) {
    this.engine = engine;
    this.st = st;
    this.req = req;
    this.res = res;
    this.headers = headers;
    this.hasBody = hasBody;
    this.retried = retried;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.destroyed) controller.abort(new Error('client went away'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: http.IncomingHttpHeaders, statusMessage?: string): void {
    this.responded = true;
    const res = this.res;
    if (res.destroyed) {
      controller.abort(new Error('client went away'));
      return;
    }
    const connection = headers.connection;
    if (typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close') {
      // Headers the app's Connection header names are about its connection to us, not the client's.
      for (const token of connection.split(',')) delete headers[token.trim().toLowerCase()];
    }
    for (const name of RESPONSE_HOP_BY_HOP) {
      if (headers[name] !== undefined) delete headers[name];
    }
    if (statusMessage) res.writeHead(statusCode, statusMessage, headers as http.OutgoingHttpHeaders);
    else res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.st.bytesIn += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    const code = (err as { code?: string }).code ?? '';
    if (!this.responded && !this.retried && RETRYABLE_CODES.has(code) && IDEMPOTENT.has(this.req.method ?? '')
      && !this.res.destroyed && (!this.hasBody || !this.req.readableDidRead)) {
      this.finish();
      this.engine.retry(this);
      return;
    }
    this.finish();
    const res = this.res;
    if (res.destroyed) return; // the client left first; nothing to answer
    if (!this.responded && !res.headersSent) {
      this.engine.countError();
      this.engine.logUpstreamError(this.st.target, err);
      sendError(res, 502, BODY_502);
    } else {
      // The response was under way: the only honest thing left is to cut the client connection.
      res.destroy();
    }
  }

  /** The client connection closed before the response ended: stop the upstream side too. */
  onClientClose(): void {
    if (!this.done && this.controller && !this.controller.aborted) this.controller.abort(new Error('client went away'));
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.st.inFlight--;
    this.st.settle();
  }
}

/** The http engine. */
export class HttpEngine implements Engine {
  readonly #opts: EngineOptions;
  readonly #server: http.Server;
  /** Every target seen and not forgotten: the current ones (round robin) and those with work in flight. */
  readonly #targets = new TargetSet((t) => new TargetState(t));
  #held: Held[] = [];
  /** Whether new work waits for a target while there is none (setTargets' `hold`). */
  #hold = true;
  readonly #clients = new Set<net.Socket>();
  #closedBytesIn = 0;
  #closedBytesOut = 0;
  #requests = 0;
  #errors = 0;
  #listening = false;
  #closing = false;
  readonly #onClientClose = function onClientClose(this: http.ServerResponse): void {
    (this as unknown as { gvExchange?: Exchange }).gvExchange?.onClientClose();
  };

  constructor(opts: EngineOptions) {
    this.#opts = opts;
    this.#server = http.createServer({
      keepAliveTimeout: CLIENT_KEEP_ALIVE_MS,
      // Slow clients and long requests are the app's business; the engine itself never cuts them.
      requestTimeout: 0,
      headersTimeout: 60_000,
      noDelay: true,
    }, (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#server.on('connection', (socket: net.Socket) => {
      this.#clients.add(socket);
      socket.once('close', () => {
        this.#clients.delete(socket);
        this.#closedBytesIn += socket.bytesRead;
        this.#closedBytesOut += socket.bytesWritten;
      });
    });
    // No 'clientError' listener on purpose: node's default answers malformed requests with 400, 431 or
    // 408 as fits, and destroys the socket without throwing.
  }

  async listen(): Promise<void> {
    await listenOn(this.#server, this.#opts, 'http');
    this.#listening = true;
  }

  address(): { host: string; port: number } {
    return boundAddress(this.#server, this.#opts);
  }

  setTargets(targets: Target[], opts: SetTargetsOptions = {}): void {
    this.#hold = opts.hold ?? true;
    const next = this.#targets.set(targets);
    if (next.length > 0 && this.#held.length > 0) this.#releaseHeld();
    else if (next.length === 0 && !this.#hold) for (const h of this.#held.splice(0)) this.#answerHeld(h, 503);
  }

  async drain(target: Target, timeoutMs: number): Promise<DrainResult> {
    const started = Date.now();
    const st = this.#targets.get(target.id);
    if (!st) return { drained: true, open: 0, elapsedMs: 0 };
    // Stop reusing its idle keep-alive connections now; busy ones close as their requests end.
    const pool = st.pool;
    st.pool = null;
    if (pool) pool.close().catch(() => {});
    if (st.open() > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          const i = st.waiters.indexOf(done);
          if (i >= 0) st.waiters.splice(i, 1);
          resolve();
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        st.waiters.push(done);
      });
    }
    const open = st.open();
    // A drained target that is no longer current is forgotten, so a long-lived daemon that restarts
    // its apps many times does not keep one entry per instance it ever had.
    if (open === 0 && !this.#targets.isCurrent(st) && st.pool === null) this.#targets.forget(target.id);
    return { drained: open === 0, open, elapsedMs: Date.now() - started };
  }

  stats(): EngineStats {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const s of this.#clients) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    const targets: TargetStats[] = [];
    for (const st of this.#targets.all()) {
      targets.push({
        id: st.target.id,
        connections: (st.pool?.stats.connected ?? 0) + st.upgrades.size,
        inFlight: st.open(),
        total: st.total,
        bytesIn: st.bytesIn,
        bytesOut: st.bytesOut,
      });
    }
    return { connections: this.#clients.size, requests: this.#requests, errors: this.#errors, bytesIn, bytesOut, targets };
  }

  async close(timeoutMs?: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const closed = this.#listening ? new Promise<void>((resolve) => this.#server.close(() => resolve())) : Promise.resolve();
    this.#server.closeIdleConnections();
    for (const h of this.#held.splice(0)) this.#answerHeld(h, 503);
    const states = this.#targets.all();
    await Promise.all(states.map((st) => this.drain(st.target, timeoutMs ?? 2_147_483_647)));
    this.#server.closeAllConnections();
    for (const st of states) {
      for (const s of st.upgrades) s.destroy();
      st.pool?.destroy().catch(() => {});
      st.pool = null;
    }
    this.#targets.clear();
    await closed;
  }

  /** Called by an Exchange whose first attempt failed before any response: one more try, on a current target. */
  retry(ex: Exchange): void {
    const st = this.#targets.pick();
    if (st === null) {
      this.#errors++;
      sendError(ex.res, 503, BODY_503);
      return;
    }
    this.#dispatch(st, ex.req, ex.res, ex.headers, ex.hasBody, true);
  }

  countError(): void {
    this.#errors++;
  }

  logUpstreamError(target: Target, err: Error): void {
    this.#opts.log('warn', 'upstream request failed', { app: this.#opts.app, target: target.id, error: (err as { code?: string }).code ?? err.message });
  }


  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.#requests++;
    if (this.#closing) {
      res.shouldKeepAlive = false;
      this.#errors++;
      sendError(res, 503, BODY_503);
      return;
    }
    const st = this.#targets.pick();
    if (st === null) {
      this.#holdOrRefuse({ req, res, socket: null, head: null });
      return;
    }
    this.#forward(st, req, res);
  }

  #forward(st: TargetState, req: http.IncomingMessage, res: http.ServerResponse): void {
    const { headers, hasBody, contentLength } = requestHeaders(req);
    st.bytesOut += contentLength;
    res.on('close', this.#onClientClose);
    this.#dispatch(st, req, res, headers, hasBody, false);
  }

  #dispatch(st: TargetState, req: http.IncomingMessage, res: http.ServerResponse, headers: string[], hasBody: boolean, retried: boolean): void {
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
    this.#requests++;
    socket.on('error', () => {});
    if (this.#closing) {
      this.#errors++;
      socket.end(rawError(503, BODY_503));
      return;
    }
    const st = this.#targets.pick();
    if (st === null) {
      socket.pause();
      this.#holdOrRefuse({ req, res: null, socket, head });
      return;
    }
    this.#pipeUpgrade(st, req, socket, head);
  }

  /** Forward an upgrade request's head, then pipe bytes both ways until either side closes. */
  #pipeUpgrade(st: TargetState, req: http.IncomingMessage, client: Duplex, head: Buffer): void {
    st.total++;
    st.upgrades.add(client);
    const upstream = net.connect({ host: st.target.host, port: st.target.port, noDelay: true });
    let connected = false;
    let closedSides = 0;
    const sideClosed = (): void => {
      if (++closedSides < 2) return;
      st.bytesIn += upstream.bytesRead;
      st.bytesOut += upstream.bytesWritten;
      st.upgrades.delete(client);
      st.settle();
    };
    upstream.once('close', sideClosed);
    client.once('close', sideClosed);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        this.#errors++;
        this.logUpstreamError(st.target, err);
        if (client.writable) client.end(rawError(502, BODY_502));
        else client.destroy();
      } else {
        client.destroy();
      }
    });
    client.on('error', () => upstream.destroy());
    // Either side ending its write side is passed on (half-close); a reset destroys both.
    upstream.once('connect', () => {
      connected = true;
      upstream.write(upgradeHead(req));
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      client.resume();
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => {
      // Ended by the app: let the client flush what pipe wrote; closed without an end: cut it.
      if (connected && !client.writableEnded) client.destroy();
    });
  }

  #holdOrRefuse(h: Omit<Held, 'timer'>): void {
    const held = h as Held;
    if (!this.#hold) {
      this.#answerHeld(held, 503);
      return;
    }
    held.timer = setTimeout(() => {
      const i = this.#held.indexOf(held);
      if (i < 0) return;
      this.#held.splice(i, 1);
      // One last look: a target may have been set in this same tick.
      const st = this.#targets.pick();
      if (st) this.#release(st, held);
      else this.#answerHeld(held, 503);
    }, this.#opts.queueTimeoutMs);
    this.#held.push(held);
    const gone = (): void => {
      const i = this.#held.indexOf(held);
      if (i >= 0) {
        this.#held.splice(i, 1);
        clearTimeout(held.timer);
      }
    };
    if (held.res) held.res.once('close', gone);
    else held.socket!.once('close', gone);
  }

  #releaseHeld(): void {
    const held = this.#held;
    this.#held = [];
    for (const h of held) {
      clearTimeout(h.timer);
      const st = this.#targets.pick();
      if (st) this.#release(st, h);
    }
  }

  #release(st: TargetState, h: Held): void {
    if (h.res) {
      if (!h.res.destroyed) this.#forward(st, h.req, h.res);
    } else if (h.socket && !h.socket.destroyed) {
      this.#pipeUpgrade(st, h.req, h.socket, h.head ?? Buffer.alloc(0));
    }
  }

  #answerHeld(h: Held, status: 503): void {
    clearTimeout(h.timer);
    this.#errors++;
    if (h.res) sendError(h.res, status, BODY_503);
    else if (h.socket && h.socket.writable) h.socket.end(rawError(status, BODY_503));
  }
}

/**
 * The headers to send upstream, as a flat [name, value, …] list built from the raw headers in one pass:
 * hop-by-hop headers dropped (and any header the client's Connection header names), X-Forwarded-* added.
 */
function requestHeaders(req: http.IncomingMessage): { headers: string[]; hasBody: boolean; contentLength: number } {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let xff: string | null = null;
  let hasProto = false;
  let fwdHost = false;
  let host: string | null = null;
  let hasBody = false;
  let contentLength = 0;
  let connectionTokens: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    switch (name.length) {
      case 2: if (name.toLowerCase() === 'te') continue; break;
      case 4: if (name.toLowerCase() === 'host') host = value; break;
      case 6: if (name.toLowerCase() === 'expect') continue; break; // node already answered 100-continue
      case 7: {
        const l = name.toLowerCase();
        if (l === 'upgrade' || l === 'trailer') continue;
        break;
      }
      case 10: {
        const l = name.toLowerCase();
        if (l === 'keep-alive') continue;
        if (l === 'connection') {
          for (const token of value.split(',')) {
            const t = token.trim().toLowerCase();
            if (t !== '' && t !== 'keep-alive' && t !== 'close' && t !== 'upgrade') (connectionTokens ??= []).push(t);
          }
          continue;
        }
        break;
      }
      case 14: if (name.toLowerCase() === 'content-length') { contentLength = Number(value) || 0; hasBody ||= contentLength > 0; } break;
      case 15: if (name.toLowerCase() === 'x-forwarded-for') { xff = xff === null ? value : `${xff}, ${value}`; continue; } break;
      case 16: {
        const l = name.toLowerCase();
        if (l === 'proxy-connection') continue;
        if (l === 'x-forwarded-host') fwdHost = true;
        break;
      }
      case 17: {
        const l = name.toLowerCase();
        if (l === 'transfer-encoding') { hasBody = true; continue; }
        if (l === 'x-forwarded-proto') hasProto = true;
        break;
      }
      default: break;
    }
    out.push(name, value);
  }
  if (connectionTokens !== null) {
    const drop = new Set(connectionTokens);
    for (let i = out.length - 2; i >= 0; i -= 2) {
      if (drop.has(out[i]!.toLowerCase())) out.splice(i, 2);
    }
  }
  const remote = req.socket.remoteAddress ?? '';
  out.push('x-forwarded-for', xff === null ? remote : `${xff}, ${remote}`);
  if (!hasProto) out.push('x-forwarded-proto', 'http');
  if (!fwdHost && host !== null) out.push('x-forwarded-host', host);
  return { headers: out, hasBody, contentLength };
}

/** The request head of an upgrade, as bytes to write on the upstream socket: raw headers kept, X-Forwarded-* added. */
function upgradeHead(req: http.IncomingMessage): string {
  const raw = req.rawHeaders;
  let out = `${req.method} ${req.url} HTTP/1.1\r\n`;
  let xff: string | null = null;
  let hasProto = false;
  let fwdHost = false;
  let host: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const l = name.toLowerCase();
    if (l === 'x-forwarded-for') { xff = xff === null ? raw[i + 1]! : `${xff}, ${raw[i + 1]}`; continue; }
    if (l === 'x-forwarded-proto') hasProto = true;
    if (l === 'x-forwarded-host') fwdHost = true;
    if (l === 'host') host = raw[i + 1]!;
    out += `${name}: ${raw[i + 1]}\r\n`;
  }
  const remote = req.socket.remoteAddress ?? '';
  out += `X-Forwarded-For: ${xff === null ? remote : `${xff}, ${remote}`}\r\n`;
  if (!hasProto) out += 'X-Forwarded-Proto: http\r\n';
  if (!fwdHost && host !== null) out += `X-Forwarded-Host: ${host}\r\n`;
  return out + '\r\n';
}

function sendError(res: http.ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function rawError(status: 502 | 503, body: string): string {
  const text = status === 502 ? 'Bad Gateway' : 'Service Unavailable';
  return `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The registry definition of the http engine (engines.http). */
export const httpEngine: EngineDefinition = {
  description: 'HTTP/1.1 reverse proxy: per-request routing, keep-alive both sides, WebSocket upgrades, retry of idempotent requests',
  create: (opts) => new HttpEngine(opts),
};
