/**
 * The dashboard's HTTP server: the front end's files, a small JSON + server-sent-events API for it,
 * and the session login in front of both (docs/architecture.md "Web dashboard"). One instance per listener; ./index.ts makes
 * it, and a new one when a reload moves `web.listen`. What it shows and does comes from the same
 * places as the control API's answers: the {@link SupervisorApi}, the event hub, and the log tail of
 * ../log-tail.ts.
 *
 * Routes (every one needs a session, except the two ways of logging in):
 *   GET  /?token=T                 log in: a session cookie, then 303 to / (the token leaves the URL)
 *   POST /login   token=T          the login form's way (application/x-www-form-urlencoded)
 *   GET  /  and the bundle's files the page (anything else without a session: 401 and the login form)
 *   GET  /api/session              { csrf, expiresAt, version }
 *   GET  /api/live                 SSE: hello, then event | restart | tick
 *   GET  /api/apps/:app            { app, config, definedAt, restarts }
 *   GET  /api/apps/:app/logs?n=N   SSE: lines (stdout and stderr merged, followed)
 *   GET  /api/plugins              { plugins, config }
 *   POST /api/apps/:app/restart | stop | start   (X-CSRF-Token) the same as gracevisorctl's
 *   POST /logout                   (X-CSRF-Token)
 * No GET changes anything. A request that changes something needs the session and its CSRF token
 * in `X-CSRF-Token`, and, when the browser says where it comes from (Origin, Sec-Fetch-Site), this
 * very origin. Bounded: header and body sizes, connections, streams, login attempts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, ListenOptions } from 'node:net';
import type { AppConfig } from '../../config/model.js';
import { GvError } from '../../errors.js';
import type { SupervisorApi } from '../../supervisor/api.js';
import { NO_KEEPER, tcpKey, type Keeper } from '../../supervisor/handover.js';
import { VERSION } from '../../version.js';
import { tailLogs, type LogSource } from '../log-tail.js';
import type { ControlLog } from '../server.js';
import { tokensEqual } from '../token.js';
import { httpStatusFor, type PluginsBody } from '../wire.js';
import type { Asset } from './assets.js';
import { clearedCookie, readCookie, sessionCookie, Sessions, type LoginThrottle, type Session } from './auth.js';
import type { ConfigCheck } from './config-state.js';
import { sendEvent, startEventStream, type LiveStreams, type StreamSlots } from './live.js';
import { loginPage, notBuiltPage, PAGE_CSP } from './pages.js';
import type { RestartRecord } from './restarts.js';

/** Largest request body: a login form or an empty POST. */
export const MAX_BODY = 4 * 1024;
/** Largest request head. */
const MAX_HEADER = 16 * 1024;
/** Connections open at once on the dashboard's listener; more are refused by the kernel's accept queue. */
export const MAX_CONNECTIONS = 64;
/** Lines a log tail starts with, at most. */
const MAX_LOG_LINES = 1000;

/** The Content-Security-Policy of the app page: its own scripts, styles and API, nothing else. */
const APP_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** What the server needs; ./index.ts builds it once and hands it to every listener it opens. */
export interface WebContext {
  api: SupervisorApi;
  /** The token that logs in (the control token). */
  token: string;
  /** Where the token is, for the login form ("in /run/gracevisor/control.token"). */
  tokenHint: string;
  /** True behind a TLS proxy: the cookie gets `Secure`. */
  secure: () => boolean;
  sessions: Sessions;
  throttle: LoginThrottle;
  slots: StreamSlots;
  live: LiveStreams;
  assets: Map<string, Asset>;
  /** Where the bundle was looked for (for the "not built" page). */
  assetsDir: string;
  restarts: (app: string) => RestartRecord[];
  appConfig: (app: string) => AppConfig | null;
  plugins: () => PluginsBody['plugins'];
  configCheck: () => ConfigCheck;
  log: ControlLog;
  followIntervalMs?: number;
}

/** An error answer: the control API's shape, `{ error: { code, message } }`. */
function fail(code: GvError['code'], message: string): GvError {
  return new GvError(code, message);
}

function statusFor(code: string): number {
  if (code === 'GV_ERR_WEB_CSRF') return 403;
  if (code === 'GV_ERR_WEB_BUSY') return 503;
  return httpStatusFor(code);
}

const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Not no-referrer: under it Chromium sends `Origin: null` with the login form's POST, which the
  // origin check then refuses. same-origin sends nothing to another site either.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The dashboard on one listener. */
export class WebServer {
  readonly #ctx: WebContext;
  readonly #server: Server;
  /** Ends every log tail when the server closes. */
  readonly #streams = new AbortController();
  #cookieName = 'gv_session';
  #closed: Promise<void> | null = null;

  constructor(ctx: WebContext) {
    this.#ctx = ctx;
    this.#server = createServer({ maxHeaderSize: MAX_HEADER }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        // #handle answers every error itself; here the answer itself could not be written.
        ctx.log.error('web: request failed', { error: err instanceof Error ? err.message : String(err) });
        res.destroy();
      });
    });
    const s = this.#server;
    s.maxConnections = MAX_CONNECTIONS;
    s.headersTimeout = 10_000;
    s.requestTimeout = 30_000;
    s.keepAliveTimeout = 5_000;
    s.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /**
   * Bind `host:port`, or take the listener the keeper still holds for it from the previous daemon
   * (an upgrade: no connection refused in between); rejects with GV_ERR_WEB_LISTEN (and then nothing
   * stays bound). The bound handle is handed to the keeper.
   */
  async listen(host: string, port: number, keeper: Keeper = NO_KEEPER): Promise<void> {
    const s = this.#server;
    const key = tcpKey(host, port);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        s.off('listening', onListening);
        reject(new GvError('GV_ERR_WEB_LISTEN', `cannot listen on the dashboard address ${host}:${port}: ${err.message}`, { cause: err, details: { errno: err.code ?? null } }));
      };
      const onListening = (): void => {
        s.off('error', onError);
        // After start, a listener error (EMFILE…) is logged, never thrown into the process.
        s.on('error', (err) => this.#ctx.log.error('web: listener error', { error: err.message }));
        const h = (s as unknown as { _handle?: object | null })._handle;
        if (h) keeper.hold(key, h);
        resolve();
      };
      s.once('error', onError);
      s.once('listening', onListening);
      const inherited = keeper.take(key);
      if (inherited) s.listen(inherited as ListenOptions);
      else s.listen(port, host);
    });
    // Cookies are not told apart by port: two dashboards on one host name keep separate sessions this way.
    this.#cookieName = `gv_session_${this.address()!.port}`;
  }

  /** The address bound, or null before listen / after close. */
  address(): { host: string; port: number } | null {
    const a = this.#server.address() as AddressInfo | null;
    return a ? { host: a.address, port: a.port } : null;
  }

  /** Stop listening, end every stream and connection. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#streams.abort();
      if (!this.#server.listening) return;
      const closed = new Promise<void>((r) => this.#server.close(() => r()));
      // Streams and long requests (a restart's answer) are cut: the listener is going away.
      this.#server.closeAllConnections();
      await closed;
    })();
    return this.#closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => undefined);
    const api = (req.url ?? '/').startsWith('/api/');
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://dashboard');
      } catch {
        throw fail('GV_ERR_CONTROL_BAD_REQUEST', 'the request URL does not parse');
      }
      const method = req.method ?? 'GET';
      const path = url.pathname;
      if (method === 'GET' && path === '/' && url.searchParams.has('token')) return await this.#loginWithQuery(req, res, url);
      if (method === 'POST' && path === '/login') return await this.#loginWithForm(req, res);
      const cookie = readCookie(req.headers.cookie, this.#cookieName);
      const session = this.#ctx.sessions.get(cookie);
      if (!session) {
        req.resume();
        if (api) throw fail('GV_ERR_CONTROL_UNAUTHORIZED', 'no valid session: log in with the control token');
        return this.#sendLogin(res, 401, cookie !== null ? 'Your session has ended. Log in again.' : undefined);
      }
      if (method === 'GET') return await this.#get(req, res, url, session);
      if (method === 'POST') {
        this.#checkCsrf(req, session);
        await this.#readBody(req);
        return await this.#post(req, res, path, cookie);
      }
      throw fail('GV_ERR_CONTROL_NOT_FOUND', `${method} is not served here`);
    } catch (err) {
      const e = GvError.from(err);
      const status = statusFor(e.code);
      if (status >= 500 && e.code !== 'GV_ERR_WEB_BUSY') this.#ctx.log.error(`web: ${req.method} ${req.url} failed`, { code: e.code, error: e.message });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Whatever of the body was not read is not wanted; the connection is not reused after an error.
      res.setHeader('connection', 'close');
      this.#json(res, status, { error: e.toJSON() });
    }
  }

  // ---- logging in ----

  async #loginWithQuery(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    await this.#readBody(req);
    if (!this.#tryToken(req, url.searchParams.get('token') ?? '')) return this.#sendLogin(res, this.#ctx.throttle.allow() ? 401 : 429, this.#refusal());
    this.#startSession(res);
  }

  async #loginWithForm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#checkOrigin(req);
    const body = await this.#readBody(req);
    const token = new URLSearchParams(body).get('token') ?? '';
    if (!this.#tryToken(req, token)) return this.#sendLogin(res, this.#ctx.throttle.allow() ? 401 : 429, this.#refusal());
    this.#startSession(res);
  }

  #refusal(): string {
    return this.#ctx.throttle.allow() ? 'That is not the token.' : 'Too many wrong tokens: wait a minute and try again.';
  }

  /** True for the right token; counts and logs a wrong one; false without comparing once the throttle is shut. */
  #tryToken(req: IncomingMessage, token: string): boolean {
    const { throttle, log } = this.#ctx;
    if (!throttle.allow()) return false;
    if (token !== '' && tokensEqual(token, this.#ctx.token)) return true;
    const n = throttle.fail();
    log.warn('web: login with a wrong token refused', { event: 'web_refused', from: req.socket.remoteAddress, failures: n, ...(!throttle.allow() && { throttled: true }) });
    return false;
  }

  #startSession(res: ServerResponse): void {
    const { id } = this.#ctx.sessions.create();
    res.writeHead(303, {
      ...COMMON_HEADERS,
      'set-cookie': sessionCookie(this.#cookieName, id, this.#ctx.sessions.ttlSeconds, this.#ctx.secure()),
      // The token is not in the URL any more, nor in the history.
      location: '/',
      'cache-control': 'no-store',
      'content-length': 0,
    });
    res.end();
  }

  #sendLogin(res: ServerResponse, status: number, error?: string): void {
    this.#html(res, status, loginPage({ ...(error !== undefined && { error }), tokenHint: this.#ctx.tokenHint }), PAGE_CSP);
  }

  // ---- reading ----

  async #get(req: IncomingMessage, res: ServerResponse, url: URL, session: Session): Promise<void> {
    await this.#readBody(req);
    const path = url.pathname;
    const ctx = this.#ctx;
    if (path === '/api/session') return this.#json(res, 200, { csrf: session.csrf, expiresAt: new Date(session.expiresAt).toISOString(), version: VERSION });
    if (path === '/api/live') return this.#live(res);
    if (path === '/api/plugins') return this.#json(res, 200, { plugins: ctx.plugins(), config: ctx.configCheck() });
    const m = /^\/api\/apps\/([^/]+)(\/logs)?$/.exec(path);
    if (m) {
      const name = decode(m[1]!);
      const [app] = ctx.api.status(name);
      if (!app) throw fail('GV_ERR_APP_NOT_FOUND', `no app named "${name}"`);
      if (m[2]) return await this.#logs(res, name, url);
      const config = ctx.appConfig(name);
      const { source, ...rest } = config ?? ({} as Partial<AppConfig>);
      return this.#json(res, 200, { app, config: config ? rest : null, definedAt: source ?? null, restarts: ctx.restarts(name) });
    }
    if (path.startsWith('/api/')) throw fail('GV_ERR_CONTROL_NOT_FOUND', `no dashboard endpoint GET ${path}`);
    return this.#asset(req, res, path === '/' ? '/index.html' : path);
  }

  #asset(req: IncomingMessage, res: ServerResponse, path: string): void {
    const ctx = this.#ctx;
    if (ctx.assets.size === 0) return this.#html(res, 503, notBuiltPage(ctx.assetsDir), PAGE_CSP);
    const a = ctx.assets.get(path);
    if (!a) throw fail('GV_ERR_CONTROL_NOT_FOUND', `no file ${path}`);
    const headers: Record<string, string | number> = {
      ...COMMON_HEADERS,
      'content-type': a.type,
      etag: a.etag,
      'cache-control': 'no-cache',
      vary: 'accept-encoding',
      ...(a.type.startsWith('text/html') && { 'content-security-policy': APP_CSP }),
    };
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = a.gzip !== null && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? a.gzip! : a.body;
    res.writeHead(200, { ...headers, ...(gzip && { 'content-encoding': 'gzip' }), 'content-length': body.length });
    res.end(body);
  }

  #live(res: ServerResponse): void {
    const { slots, live } = this.#ctx;
    if (!slots.take()) throw fail('GV_ERR_WEB_BUSY', `the dashboard already serves ${slots.max} live streams`);
    res.once('close', () => slots.release());
    res.setHeader('x-content-type-options', 'nosniff');
    live.open(res);
  }

  /** A log tail as SSE: `lines` messages, each `{ text }` of whole lines, first the last `n`, then as they come. */
  async #logs(res: ServerResponse, name: string, url: URL): Promise<void> {
    const nText = url.searchParams.get('n') ?? '200';
    if (!/^\d+$/.test(nText) || Number(nText) > MAX_LOG_LINES) throw fail('GV_ERR_CONTROL_BAD_REQUEST', `"n" must be a whole number from 0 to ${MAX_LOG_LINES}`);
    const files = this.#ctx.api.logFiles(name);
    const sources: LogSource[] = [{ file: files.stdout, label: null }];
    if (files.stderr !== files.stdout) sources.push({ file: files.stderr, label: null });
    const { slots } = this.#ctx;
    if (!slots.take()) throw fail('GV_ERR_WEB_BUSY', `the dashboard already serves ${slots.max} live streams`);
    const gone = new AbortController();
    const signal = AbortSignal.any([gone.signal, this.#streams.signal]);
    res.once('close', () => {
      slots.release();
      gone.abort();
    });
    startEventStream(res);
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    ping.unref();
    try {
      await tailLogs(sources, Number(nText), async (text) => {
        if (text.length === 0) return;
        if (!sendEvent(res, 'lines', { text })) {
          res.destroy();
          gone.abort();
          return;
        }
        if (res.writableNeedDrain) await once(res, 'drain', { signal }).catch(() => undefined);
      }, { signal, intervalMs: this.#ctx.followIntervalMs ?? 250 });
    } finally {
      clearInterval(ping);
      if (!res.writableEnded && !res.destroyed) res.end();
    }
  }

  // ---- changing ----

  /** The session's CSRF token in `X-CSRF-Token`, and no sign of another origin; else GV_ERR_WEB_CSRF. */
  #checkCsrf(req: IncomingMessage, session: Session): void {
    this.#checkOrigin(req);
    if (!Sessions.csrfMatches(session, req.headers['x-csrf-token'])) {
      req.resume();
      this.#ctx.log.warn('web: a request without the session\'s CSRF token refused', { event: 'web_refused', reason: 'csrf', from: req.socket.remoteAddress, method: req.method, path: req.url });
      throw fail('GV_ERR_WEB_CSRF', 'this request changes something: it needs the X-CSRF-Token of its session');
    }
  }

  /** Refuse a request a browser says comes from another site (Origin, Sec-Fetch-Site). */
  #checkOrigin(req: IncomingMessage): void {
    const { origin, host } = req.headers;
    const site = req.headers['sec-fetch-site'];
    const otherOrigin = origin !== undefined && (host === undefined || (origin !== `http://${host}` && origin !== `https://${host}`));
    const otherSite = site !== undefined && site !== 'same-origin' && site !== 'none';
    if (otherOrigin || otherSite) {
      req.resume();
      throw fail('GV_ERR_WEB_CSRF', 'a request from another origin');
    }
  }

  async #post(req: IncomingMessage, res: ServerResponse, path: string, cookie: string | null): Promise<void> {
    const ctx = this.#ctx;
    if (path === '/logout') {
      ctx.sessions.delete(cookie);
      res.writeHead(204, { ...COMMON_HEADERS, 'set-cookie': clearedCookie(this.#cookieName, ctx.secure()), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    const m = /^\/api\/apps\/([^/]+)\/(restart|stop|start)$/.exec(path);
    if (!m) throw fail('GV_ERR_CONTROL_NOT_FOUND', `no dashboard endpoint POST ${path}`);
    const name = decode(m[1]!);
    const action = m[2] as 'restart' | 'stop' | 'start';
    ctx.log.info(`web: ${action} ${name}`, { event: 'web_action', action, app: name, from: req.socket.remoteAddress });
    const result = action === 'restart' ? await ctx.api.restartApp(name) : { app: await (action === 'stop' ? ctx.api.stopApp(name) : ctx.api.startApp(name)) };
    this.#json(res, 200, result);
  }

  // ---- plumbing ----

  /** The body, at most {@link MAX_BODY} bytes (a 400 past it). */
  async #readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) throw fail('GV_ERR_CONTROL_BAD_REQUEST', `the request body is larger than ${MAX_BODY} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body) + '\n';
    res.writeHead(status, { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }

  #html(res: ServerResponse, status: number, text: string, csp: string): void {
    res.writeHead(status, { ...COMMON_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'content-security-policy': csp });
    res.end(text);
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw fail('GV_ERR_CONTROL_BAD_REQUEST', 'a path segment is not valid percent-encoding');
  }
}
