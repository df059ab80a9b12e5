/**
 * The control API: HTTP+JSON on a unix socket (mode 0600: the daemon's user and root only), and on
 * TCP `rpc.host:rpc.port` when the config names them, where every request needs a bearer token.
 * gracevisord starts one; gracevisorctl (through ./client.ts) is its only intended caller. It calls
 * nothing but the {@link SupervisorApi}: every decision about apps lives in the supervisor.
 *
 * Routes (all under /v1):
 *   GET    /version                      GET  /plugins
 *   GET    /status            /status/:app (also /apps, /apps/:app)
 *   POST   /apps/:app/start | stop | restart | kill
 *   POST   /restart-all                  POST /reload
 *   POST   /apps  {"file": "/abs/path"}  DELETE /apps/:app
 *   GET    /apps/:app/logs?stream=stdout|stderr|both&n=N&follow=1   (text/plain, chunked while following)
 *   GET    /logs?n=N&follow=1             (every app, each line marked "app | ")
 *   GET    /daemon/logs?n=N&follow=1      (the daemon's own log)
 *   GET    /metrics                      (Prometheus text format)
 *   GET    /events?app=&since=&n=&follow=1   (JSON; server-sent events while following)
 *   POST   /alerts/test  {"app": "web"}
 * Every failure is `{ error: { code, message, pos?, errors? } }` with a GV_ERR_… code; a bad request
 * never reaches the supervisor and never takes the daemon down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { chmod, rename, unlink } from 'node:fs/promises';
import type { AddressInfo, ListenOptions } from 'node:net';
import { isAbsolute } from 'node:path';
import { GvConfigError, GvError } from '../errors.js';
import type { SupervisorApi } from '../supervisor/api.js';
import { NO_KEEPER, tcpKey, unixKey, type Keeper } from '../supervisor/handover.js';
import { appNotFound } from '../supervisor/supervisor.js';
import { VERSION } from '../version.js';
import { tailLogs, type LogSource } from './log-tail.js';
import { prepareSocketPath } from './socket-file.js';
import { bearerToken, tokensEqual } from './token.js';
import type { GvEvent, Observability } from '../observe/index.js';
import {
  API_PREFIX,
  httpStatusFor,
  type AlertTestBody,
  type AppBody,
  type EventsBody,
  type ErrorBody,
  type PluginsBody,
  type ReloadBody,
  type RemoveBody,
  type RestartAllBody,
  type RestartBody,
  type StatusBody,
  type UpgradeBody,
  type VersionBody,
  type WireError,
} from './wire.js';

/** Where the server reports what it did (a command was run, a request failed). DaemonLog fits. */
export interface ControlLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** How to build a {@link ControlServer}. */
export interface ControlServerOptions {
  api: SupervisorApi;
  /** The daemon's event stream, metrics and alerts; without it those routes answer 404. */
  observe?: Observability | null;
  /** Unix socket path; always listened on. */
  socket: string;
  /** TCP listener with its required token, or null/undefined for the socket only. Port 0 picks one. */
  tcp?: { host: string; port: number; token: string } | null;
  log?: ControlLog;
  /** Poll interval of `logs?follow=1`, ms. */
  followIntervalMs?: number;
  /**
   * Replace this daemon with the gracevisord on disk now (`POST /v1/upgrade`); absent when it runs
   * without its holder (the route then answers GV_ERR_UPGRADE_FAILED saying so).
   */
  upgrade?: () => Promise<UpgradeBody>;
  /**
   * Keeps the listeners across daemons (src/supervisor/handover.ts): a socket the previous daemon
   * listened on is taken back instead of bound again, and ours is handed over when listening.
   */
  keeper?: Keeper;
  /** The pid of gracevisord's holder, when the daemon runs under one (shown by `version`). */
  holderPid?: number | null;
}

/** Largest request body accepted; the API's bodies are a few bytes. */
const MAX_BODY = 64 * 1024;
/** Largest `n` for logs. */
const MAX_LINES = 100_000;
/** Events a following client may be behind (writes not yet flushed) before it is cut off. */
const EVENT_BACKLOG = 1_000;

/** An optional whole-number query parameter in [min, max]; a 400 when it is something else. */
function intParam(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw badRequest(`"${name}" must be a whole number from ${min} to ${max}, not "${v}"`);
  return Number(v);
}

const silentLog: ControlLog = { info() {}, warn() {}, error() {} };

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: URLSearchParams;
  body: Record<string, unknown>;
}

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  pattern: RegExp;
  /** Query parameters this route accepts; any other is a 400. */
  query?: string[];
  /** Body keys this route accepts; any other is a 400. */
  body?: string[];
  /** True for routes that change something: logged at info. */
  mutating?: boolean;
  /** Answer 201 instead of 200 (the route creates something). */
  creates?: boolean;
  handle(ctx: RequestContext): Promise<unknown> | unknown;
}

function badRequest(message: string): GvError {
  return new GvError('GV_ERR_CONTROL_BAD_REQUEST', message);
}

/** The wire form of any thrown value: a GvConfigError keeps every problem, anything unexpected is GV_ERR_INTERNAL. */
function toWireError(err: unknown): WireError {
  if (err instanceof GvConfigError) return { ...err.toJSON(), errors: err.errors.map((e) => e.toJSON()) };
  return GvError.from(err).toJSON();
}

/**
 * The control API server. Construction binds nothing; {@link listen} does, {@link close} undoes it.
 */
export class ControlServer {
  readonly #api: SupervisorApi;
  readonly #observe: Observability | null;
  readonly #socketPath: string;
  readonly #tcp: ControlServerOptions['tcp'];
  readonly #log: ControlLog;
  readonly #followIntervalMs: number;
  readonly #keeper: Keeper;
  readonly #upgrade: (() => Promise<UpgradeBody>) | null;
  readonly #holderPid: number | null;
  readonly #routes: Route[];
  #unixServer: Server | null = null;
  #tcpServer: Server | null = null;
  /** Aborts every `logs?follow=1` stream when the server closes. */
  readonly #follows = new AbortController();
  /** Each listener's close, started once. */
  readonly #closing = new Map<Server, Promise<void>>();

  constructor(opts: ControlServerOptions) {
    this.#api = opts.api;
    this.#observe = opts.observe ?? null;
    this.#socketPath = opts.socket;
    this.#tcp = opts.tcp ?? null;
    this.#log = opts.log ?? silentLog;
    this.#followIntervalMs = opts.followIntervalMs ?? 200;
    this.#keeper = opts.keeper ?? NO_KEEPER;
    this.#upgrade = opts.upgrade ?? null;
    this.#holderPid = opts.holderPid ?? null;
    this.#routes = this.#buildRoutes();
  }

  /** The unix socket path. */
  get socketPath(): string {
    return this.#socketPath;
  }

  /** The TCP address actually bound, or null when TCP is off (or not listening yet). */
  tcpAddress(): { host: string; port: number } | null {
    const addr = this.#tcpServer?.address() as AddressInfo | null | undefined;
    return addr ? { host: addr.address, port: addr.port } : null;
  }

  /**
   * Bind the unix socket (created with mode 0600 — under a umask of 0177 so there is no moment
   * when others could connect — then chmod'ed again for certainty), and TCP when configured.
   * Rejects with GV_ERR_CONTROL_LISTEN; on failure nothing stays bound.
   */
  async listen(): Promise<void> {
    const unix = this.#makeServer(false);
    const inheritedUnix = this.#keeper.take(unixKey(this.#socketPath));
    try {
      if (inheritedUnix) {
        // The previous daemon's socket, still bound at the same path: nothing was refused meanwhile.
        await this.#bind(unix, () => unix.listen(inheritedUnix as ListenOptions), `the control socket ${this.#socketPath}`);
        this.#unixServer = unix;
      } else {
        await prepareSocketPath(this.#socketPath);
        const bindPath = `${this.#socketPath}.${process.pid}`;
        await unlink(bindPath).catch(() => undefined);
        await this.#bind(unix, () => {
        let previous: number | null = null;
        try {
          previous = process.umask(0o177);
        } catch {
          // process.umask(mask) is not allowed in worker threads; the chmod below still applies.
        }
        try {
          unix.listen(bindPath);
        } finally {
          if (previous !== null) process.umask(previous);
        }
        }, `the control socket ${this.#socketPath}`);
        this.#unixServer = unix;
        await chmod(bindPath, 0o600);
        // Bound at a side path and renamed into place: libuv unlinks the path a pipe was bound at when
        // it closes, and a daemon handing over (an upgrade) closes its listener while its successor
        // serves on the same socket. The rename also replaces a stale socket file in one step.
        await rename(bindPath, this.#socketPath);
      }
      this.#hold(unixKey(this.#socketPath), unix);
      if (this.#tcp) {
        const tcp = this.#makeServer(true);
        const { host, port } = this.#tcp;
        const inherited = this.#keeper.take(tcpKey(host, port));
        await this.#bind(tcp, () => (inherited ? tcp.listen(inherited as ListenOptions) : tcp.listen(port, host)), `the control address ${host}:${port}`);
        this.#tcpServer = tcp;
        this.#hold(tcpKey(host, port), tcp);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Hand a listening server's handle to the keeper. */
  #hold(key: string, server: Server): void {
    const h = (server as unknown as { _handle?: object | null })._handle;
    if (h) this.#keeper.hold(key, h);
  }

  /** Stop accepting new connections (requests on open ones still finish). The first step of shutdown. */
  stopAccepting(): void {
    for (const s of [this.#unixServer, this.#tcpServer]) if (s) void this.#closeListener(s);
  }

  /**
   * `server.close()` once per listener, however often asked: a second call would report "not
   * running" at once instead of waiting for the open connections.
   */
  #closeListener(s: Server): Promise<void> {
    let closed = this.#closing.get(s);
    if (!closed) {
      closed = new Promise<void>((resolve) => s.close(() => resolve()));
      this.#closing.set(s, closed);
    }
    return closed;
  }

  /**
   * Stop everything: end log streams, close listeners and connections, remove the socket file —
   * unless `handover`: a successor serves on the same socket, so the file stays.
   */
  async close(opts: { handover?: boolean } = {}): Promise<void> {
    this.#follows.abort();
    const servers = [this.#unixServer, this.#tcpServer].filter((s): s is Server => s !== null);
    const unixWasBound = this.#unixServer !== null;
    this.#unixServer = null;
    this.#tcpServer = null;
    await Promise.all(servers.map(async (s) => {
      const closed = this.#closeListener(s);
      s.closeIdleConnections();
      // A command still running (a long restart) gets its answer cut; the daemon is going away.
      const force = setTimeout(() => s.closeAllConnections(), 1000);
      force.unref();
      await closed;
      clearTimeout(force);
    }));
    if (unixWasBound && opts.handover !== true) await unlink(this.#socketPath).catch(() => undefined);
  }

  async #bind(server: Server, start: () => void, what: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        server.off('listening', onListening);
        reject(new GvError('GV_ERR_CONTROL_LISTEN', `cannot listen on ${what}: ${err.message}`, { cause: err }));
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      start();
    });
  }

  #makeServer(requireToken: boolean): Server {
    const server = createServer((req, res) => {
      this.#handle(req, res, requireToken).catch((err: unknown) => {
        // #handle answers every error itself; reaching here means the answer could not be written.
        this.#log.error('control: request failed', { error: err instanceof Error ? err.message : String(err) });
        res.destroy();
      });
    });
    server.on('clientError', (err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
      this.#log.warn('control: malformed HTTP request', { error: err.message });
    });
    // After start, a listener error (EMFILE…) is logged, never thrown into the process.
    server.on('listening', () => server.on('error', (err) => this.#log.error('control: listener error', { error: err.message })));
    return server;
  }

  async #handle(req: IncomingMessage, res: ServerResponse, requireToken: boolean): Promise<void> {
    res.on('error', () => undefined);
    try {
      if (requireToken) {
        const presented = bearerToken(req.headers.authorization);
        if (presented === null || !tokensEqual(presented, this.#tcp!.token)) {
          req.resume();
          // Worth a line: someone who can reach the TCP port is trying without the token.
          this.#log.warn('control: request without the right token refused', { event: 'control_refused', from: req.socket.remoteAddress, method: req.method, path: req.url });
          throw new GvError('GV_ERR_CONTROL_UNAUTHORIZED', 'this request needs the control token: Authorization: Bearer <token>');
        }
      }
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://control');
      } catch {
        throw badRequest('the request URL does not parse');
      }
      const { route, params } = this.#match(req.method ?? 'GET', url.pathname);
      for (const key of url.searchParams.keys()) {
        if (!route.query?.includes(key)) throw badRequest(`unknown query parameter "${key}"`);
      }
      const body = await this.#readBody(req, route);
      if (route.mutating) this.#log.info(`control: ${req.method} ${url.pathname}`, requireToken ? { via: 'tcp' } : {});
      const result = await route.handle({ req, res, params, query: url.searchParams, body });
      if (result !== undefined) this.#send(res, route.creates ? 201 : 200, result);
    } catch (err) {
      const wire = toWireError(err);
      const status = httpStatusFor(wire.code);
      if (status >= 500) this.#log.error(`control: ${req.method} ${req.url} failed`, { code: wire.code, error: wire.message });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body: ErrorBody = { error: wire };
      this.#send(res, status, body);
    }
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body) + '\n';
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    res.end(text);
  }

  #match(method: string, pathname: string): { route: Route; params: string[] } {
    let pathMatched = false;
    for (const route of this.#routes) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      let params: string[];
      try {
        params = m.slice(1).map((p) => decodeURIComponent(p));
      } catch {
        throw badRequest('a path segment is not valid percent-encoding');
      }
      return { route, params };
    }
    if (pathMatched) throw new GvError('GV_ERR_CONTROL_NOT_FOUND', `${method} is not allowed on ${pathname}`);
    throw new GvError('GV_ERR_CONTROL_NOT_FOUND', `no control endpoint ${method} ${pathname}`);
  }

  async #readBody(req: IncomingMessage, route: Route): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) throw badRequest(`the request body is larger than ${MAX_BODY} bytes`);
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8').trim();
    if (text === '') return {};
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw badRequest('the request body is not valid JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
    for (const key of Object.keys(body)) {
      if (!route.body?.includes(key)) throw badRequest(`unknown field "${key}" in the request body`);
    }
    return body as Record<string, unknown>;
  }

  #statusOf(app: string): StatusBody {
    const apps = this.#api.status(app);
    if (apps.length === 0) throw appNotFound(app, this.#api.status().map((a) => a.name));
    return { apps };
  }

  #buildRoutes(): Route[] {
    const api = this.#api;
    const P = API_PREFIX.replace(/\//g, '\\/');
    const seg = '([^/]+)';
    const r = (s: string): RegExp => new RegExp(`^${P}${s}\\/?$`);
    return [
      { method: 'GET', pattern: r('/version'), handle: (): VersionBody => ({ version: VERSION, node: process.version, pid: process.pid, holder: this.#holderPid }) },
      { method: 'GET', pattern: r('/plugins'), handle: (): PluginsBody => ({ plugins: this.#observe?.plugins() ?? api.plugins() }) },
      { method: 'GET', pattern: r('/metrics'), handle: (ctx) => this.#metrics(ctx) },
      { method: 'GET', pattern: r('/events'), query: ['app', 'since', 'n', 'follow'], handle: (ctx) => this.#events(ctx) },
      {
        method: 'POST', pattern: r('/alerts/test'), body: ['app'], mutating: true,
        handle: async ({ body }): Promise<AlertTestBody> => {
          if (body.app !== undefined && (typeof body.app !== 'string' || body.app === '')) throw badRequest('"app" must be an app name');
          return { results: await this.#need().alerts.test(body.app as string | undefined) };
        },
      },
      { method: 'GET', pattern: r('/status'), handle: (): StatusBody => ({ apps: api.status() }) },
      { method: 'GET', pattern: r(`/status/${seg}`), handle: ({ params }) => this.#statusOf(params[0]!) },
      { method: 'GET', pattern: r('/apps'), handle: (): StatusBody => ({ apps: api.status() }) },
      {
        method: 'POST', pattern: r('/apps'), body: ['file'], mutating: true, creates: true,
        handle: async ({ body }) => {
          const file = body.file;
          if (typeof file !== 'string' || file === '') throw badRequest('the body needs "file": the absolute path of an app config file');
          if (!isAbsolute(file)) throw badRequest(`"file" must be an absolute path (the daemon's working folder is not yours): ${file}`);
          return { app: await api.addApp(file) } satisfies AppBody;
        },
      },
      { method: 'GET', pattern: r(`/apps/${seg}`), handle: ({ params }) => this.#statusOf(params[0]!) },
      {
        method: 'DELETE', pattern: r(`/apps/${seg}`), mutating: true,
        handle: async ({ params }): Promise<RemoveBody> => {
          await api.removeApp(params[0]!);
          return { removed: params[0]! };
        },
      },
      { method: 'POST', pattern: r(`/apps/${seg}/start`), mutating: true, handle: async ({ params }): Promise<AppBody> => ({ app: await api.startApp(params[0]!) }) },
      { method: 'POST', pattern: r(`/apps/${seg}/stop`), mutating: true, handle: async ({ params }): Promise<AppBody> => ({ app: await api.stopApp(params[0]!) }) },
      { method: 'POST', pattern: r(`/apps/${seg}/kill`), mutating: true, handle: async ({ params }): Promise<AppBody> => ({ app: await api.killApp(params[0]!) }) },
      { method: 'POST', pattern: r(`/apps/${seg}/restart`), mutating: true, handle: ({ params }): Promise<RestartBody> => api.restartApp(params[0]!) },
      { method: 'POST', pattern: r('/restart-all'), mutating: true, handle: async (): Promise<RestartAllBody> => ({ results: await api.restartAll() }) },
      { method: 'POST', pattern: r('/reload'), mutating: true, handle: (): Promise<ReloadBody> => api.reload() },
      {
        method: 'POST', pattern: r('/upgrade'), mutating: true,
        handle: (): Promise<UpgradeBody> => {
          if (!this.#upgrade) throw new GvError('GV_ERR_UPGRADE_FAILED', 'this gracevisord runs without its holder (--no-holder): an upgrade needs the holder to keep the sockets and the apps; restart it instead');
          return this.#upgrade();
        },
      },
      { method: 'GET', pattern: r(`/apps/${seg}/logs`), query: ['stream', 'n', 'follow'], handle: (ctx) => this.#logs(ctx, 'app') },
      { method: 'GET', pattern: r('/logs'), query: ['stream', 'n', 'follow'], handle: (ctx) => this.#logs(ctx, 'all') },
      { method: 'GET', pattern: r('/daemon/logs'), query: ['n', 'follow'], handle: (ctx) => this.#logs(ctx, 'daemon') },
    ];
  }

  #need(): Observability {
    if (!this.#observe) throw new GvError('GV_ERR_CONTROL_NOT_FOUND', 'this daemon has no event stream, metrics or alerts');
    return this.#observe;
  }

  /** `GET /v1/metrics`: the Prometheus exposition. */
  async #metrics({ res }: RequestContext): Promise<undefined> {
    const o = this.#need();
    const text = await o.metrics.text();
    res.writeHead(200, { 'content-type': o.metrics.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return undefined;
  }

  /**
   * `GET /v1/events`: the recent events (`n`, default 100; of one `app`; after seq `since`) as JSON,
   * or with `follow=1` as server-sent events — the recent ones, then each as it happens, until the
   * client goes. A client that reads too slowly is cut off rather than buffered for.
   */
  async #events({ res, query }: RequestContext): Promise<EventsBody | undefined> {
    const hub = this.#need().events;
    const app = query.get('app') ?? undefined;
    const since = intParam(query, 'since', 0, Number.MAX_SAFE_INTEGER);
    const n = intParam(query, 'n', 0, 10_000) ?? 100;
    const followText = query.get('follow') ?? '0';
    if (!['0', '1', 'true', 'false'].includes(followText)) throw badRequest(`"follow" must be 1 or 0, not "${followText}"`);
    if (app !== undefined) this.#statusOf(app);
    const recent = hub.recent({ ...(app !== undefined && { app }), ...(since !== undefined && { since }), limit: n });
    if (followText !== '1' && followText !== 'true') return { events: recent };
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    // The head now, not with the first event: a client waits for it before it acts (the progress of
    // `gracevisorctl restart` subscribes, then restarts).
    res.flushHeaders();
    const send = (e: GvEvent): boolean => res.write(`id: ${e.seq}\nevent: ${e.event}\ndata: ${JSON.stringify(e)}\n\n`);
    for (const e of recent) send(e);
    await new Promise<void>((resolve) => {
      let backlog = 0;
      const off = hub.subscribe((e) => {
        if (app !== undefined && e.app !== app) return;
        if (!send(e) && ++backlog > EVENT_BACKLOG) res.destroy();
      });
      res.on('drain', () => { backlog = 0; });
      const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
      ping.unref();
      const done = (): void => {
        off();
        clearInterval(ping);
        this.#follows.signal.removeEventListener('abort', stop);
        resolve();
      };
      const stop = (): void => {
        res.end();
        done();
      };
      res.once('close', done);
      this.#follows.signal.addEventListener('abort', stop, { once: true });
    });
    return undefined;
  }

  /**
   * `GET /v1/apps/:app/logs`: the app's stdout and stderr (`stream=both`, the default: merged in time
   * order), or one of them. `GET /v1/logs`: every app's, each line marked with its app. `GET
   * /v1/daemon/logs`: the daemon's own log. The last `n` lines, then with `follow=1` everything
   * appended (through rotation), until the client goes or the daemon stops.
   */
  async #logs({ res, params, query }: RequestContext, which: 'app' | 'all' | 'daemon'): Promise<undefined> {
    const stream = query.get('stream') ?? 'both';
    if (stream !== 'stdout' && stream !== 'stderr' && stream !== 'both') throw badRequest(`"stream" must be stdout, stderr or both, not "${stream}"`);
    const n = intParam(query, 'n', 0, MAX_LINES) ?? 10;
    const followText = query.get('follow') ?? '0';
    if (!['0', '1', 'true', 'false'].includes(followText)) throw badRequest(`"follow" must be 1 or 0, not "${followText}"`);
    const follow = followText === '1' || followText === 'true';
    const sources: LogSource[] = [];
    const add = (file: string, label: string | null): void => {
      if (!sources.some((x) => x.file === file)) sources.push({ file, label });
    };
    if (which === 'daemon') {
      const file = this.#api.daemonLogFile();
      if (file === null) throw new GvError('GV_ERR_CONTROL_NOT_FOUND', 'this daemon writes no log file');
      add(file, null);
    } else {
      const apps = which === 'app' ? [params[0]!] : this.#api.status().map((a) => a.name);
      for (const name of apps) {
        const files = this.#api.logFiles(name);
        const label = which === 'all' ? `${name} | ` : null;
        if (stream !== 'stderr') add(files.stdout, label);
        if (stream !== 'stdout') add(files.stderr, label);
      }
    }
    res.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-log-files': sources.map((x) => encodeURI(x.file)).join(','),
    });
    // With follow, ends when the client goes away or the server closes.
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    // Not req's 'close': an IncomingMessage closes once its (empty) body is read, long before the client leaves.
    res.on('close', onClose);
    const signal = AbortSignal.any([gone.signal, this.#follows.signal]);
    try {
      await tailLogs(sources, n, async (text, first) => {
        if (first && !follow) res.end(text);
        else if (first && text.length === 0) res.flushHeaders();
        else if (!res.write(text)) await once(res, 'drain', { signal }).catch(() => undefined);
      }, follow ? { signal, intervalMs: this.#followIntervalMs } : undefined);
    } finally {
      res.off('close', onClose);
      if (follow && !res.writableEnded && !res.destroyed) res.end();
    }
    return undefined;
  }
}
