/**
 * The control API client gracevisorctl uses: one method per route of ./server.ts, over the unix
 * socket or over TCP with a bearer token. Every failure is a GvError: the daemon's own error (code,
 * position and, for a config that failed to load, a GvConfigError with every problem), or
 * GV_ERR_CONTROL_UNREACHABLE naming where it tried when nothing answers.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { GvConfigError, GvError, type ErrorCode } from '../errors.js';
import type { AppStatus, ReloadResult, RestartResult } from '../supervisor/api.js';
import type { RegistryEntry } from '../plugins/types.js';
import type { AlertTestResult, GvEvent } from '../observe/index.js';
import {
  API_PREFIX,
  type AlertTestBody,
  type AppBody,
  type EventsBody,
  type ErrorBody,
  type PluginsBody,
  type RemoveBody,
  type RestartAllBody,
  type StatusBody,
  type UpgradeBody,
  type VersionBody,
  type WireError,
} from './wire.js';

/** Where the daemon is: its unix socket, or a TCP address and the token it wants. */
export type ControlTarget = { socket: string } | { host: string; port: number; token: string | null };

/** Options of {@link ControlClient.logs}. */
export interface LogsOptions {
  /** One stream, or both merged in time order (the default). */
  stream?: 'stdout' | 'stderr' | 'both';
  n?: number;
  follow?: boolean;
}

function fromWire(e: WireError): GvError {
  if (e.errors && e.errors.length > 0) return new GvConfigError(e.errors.map(fromWire));
  return new GvError(e.code, e.message, { ...(e.pos && { pos: e.pos }), ...(e.details && { details: e.details }) });
}

/** Talks to one gracevisord. Holds no connection between calls. */
export class ControlClient {
  readonly #target: ControlTarget;
  readonly #timeoutMs: number | null;

  /** @param opts.timeoutMs give up on a daemon that has not answered (headers) in this long; default never. */
  constructor(target: ControlTarget, opts: { timeoutMs?: number } = {}) {
    this.#target = target;
    this.#timeoutMs = opts.timeoutMs ?? null;
  }

  /** Where this client connects, for messages: `unix socket /run/…` or `http://host:port`. */
  describe(): string {
    const t = this.#target;
    return 'socket' in t ? `unix socket ${t.socket}` : `http://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
  }

  /** Send one request and resolve with the raw response once its headers arrived. */
  async #send(method: string, path: string, body?: unknown): Promise<IncomingMessage> {
    const t = this.#target;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (!('socket' in t) && t.token !== null) headers.authorization = `Bearer ${t.token}`;
    const where = 'socket' in t ? { socketPath: t.socket } : { host: t.host, port: t.port };
    return new Promise((resolve, reject) => {
      const req = httpRequest({ ...where, method, path: API_PREFIX + path, headers, agent: false }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.#unreachable(err)));
      if (this.#timeoutMs !== null) {
        const ms = this.#timeoutMs;
        req.setTimeout(ms, () => req.destroy(Object.assign(new Error(`no answer in ${ms} ms`), { code: 'ETIMEDOUT' })));
      }
      req.end(payload);
    });
  }

  #unreachable(err: NodeJS.ErrnoException): GvError {
    const t = this.#target;
    let hint: string;
    if (err.code === 'EACCES') hint = 'permission denied: run gracevisorctl as the daemon\'s user or root';
    else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
      hint = 'socket' in t
        ? 'is gracevisord running? Point at its socket with --socket PATH or at its config with --conf PATH'
        : 'is gracevisord running with rpc host/port set to this address?';
    } else hint = 'the connection failed';
    return new GvError('GV_ERR_CONTROL_UNREACHABLE', `cannot reach gracevisord on ${this.describe()} (${err.code ?? err.message}): ${hint}`, { cause: err });
  }

  async #readAll(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
    } catch (err) {
      throw new GvError('GV_ERR_CONTROL_FAILED', `the connection to gracevisord broke during the answer: ${(err as Error).message}`, { cause: err });
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Turn a non-2xx answer into the daemon's error. */
  async #failure(res: IncomingMessage): Promise<GvError> {
    const text = await this.#readAll(res);
    try {
      const body = JSON.parse(text) as ErrorBody;
      if (body && typeof body.error?.code === 'string') return fromWire(body.error);
    } catch {
      // fall through: not our API answering
    }
    const code: ErrorCode = res.statusCode === 401 ? 'GV_ERR_CONTROL_UNAUTHORIZED' : 'GV_ERR_CONTROL_FAILED';
    return new GvError(code, `unexpected answer from ${this.describe()}: HTTP ${res.statusCode}`);
  }

  /** One JSON request: resolves with the body, rejects with the daemon's error. */
  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.#send(method, path, body);
    if ((res.statusCode ?? 500) >= 300) throw await this.#failure(res);
    const text = await this.#readAll(res);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new GvError('GV_ERR_CONTROL_FAILED', `the answer from ${this.describe()} is not JSON`);
    }
  }

  /** Every app, or one (rejects with GV_ERR_APP_NOT_FOUND). */
  async status(app?: string): Promise<AppStatus[]> {
    const path = app === undefined ? '/status' : `/status/${encodeURIComponent(app)}`;
    return (await this.request<StatusBody>('GET', path)).apps;
  }

  /** Start a stopped app. */
  async start(app: string): Promise<AppStatus> {
    return (await this.request<AppBody>('POST', `/apps/${encodeURIComponent(app)}/start`)).app;
  }

  /** Drain and stop an app; its public port stays open. */
  async stop(app: string): Promise<AppStatus> {
    return (await this.request<AppBody>('POST', `/apps/${encodeURIComponent(app)}/stop`)).app;
  }

  /** SIGKILL every instance of an app. */
  async kill(app: string): Promise<AppStatus> {
    return (await this.request<AppBody>('POST', `/apps/${encodeURIComponent(app)}/kill`)).app;
  }

  /** Hitless restart of one app. A failed restart resolves with `ok: false`. */
  async restart(app: string): Promise<RestartResult> {
    return this.request<RestartResult>('POST', `/apps/${encodeURIComponent(app)}/restart`);
  }

  /** Hitless restart of every app. */
  async restartAll(): Promise<RestartResult[]> {
    return (await this.request<RestartAllBody>('POST', '/restart-all')).results;
  }

  /** Re-read the daemon's config. Rejects with a GvConfigError when it does not load (nothing changed then). */
  async reload(): Promise<ReloadResult> {
    return this.request<ReloadResult>('POST', '/reload');
  }

  /** Replace the daemon with the gracevisord on disk now, keeping every socket and app (GV_ERR_UPGRADE_FAILED when the new one could not take over). */
  async upgrade(): Promise<UpgradeBody> {
    return this.request<UpgradeBody>('POST', '/upgrade');
  }

  /** Add one app from a file; `file` must be absolute (the daemon's working folder is not the caller's). */
  async add(file: string): Promise<AppStatus> {
    return (await this.request<AppBody>('POST', '/apps', { file })).app;
  }

  /** Drain, stop and forget an app. */
  async remove(app: string): Promise<string> {
    return (await this.request<RemoveBody>('DELETE', `/apps/${encodeURIComponent(app)}`)).removed;
  }

  /** The recent events (of one app, after seq `since`, at most `n`). */
  async events(opts: { app?: string; since?: number; n?: number } = {}): Promise<GvEvent[]> {
    return (await this.request<EventsBody>('GET', `/events?${eventQuery(opts, false)}`)).events;
  }

  /**
   * The event stream: the recent events, then each as it happens, as server-sent events, until the
   * caller destroys the stream or the daemon stops.
   */
  async followEvents(opts: { app?: string; since?: number; n?: number } = {}): Promise<IncomingMessage> {
    const res = await this.#send('GET', `/events?${eventQuery(opts, true)}`);
    if ((res.statusCode ?? 500) >= 300) throw await this.#failure(res);
    return res;
  }

  /** Send a test alert through every route (an app's, or the global ones); resolves with each route's result. */
  async testAlerts(app?: string): Promise<AlertTestResult[]> {
    return (await this.request<AlertTestBody>('POST', '/alerts/test', app === undefined ? {} : { app })).results;
  }

  /** The Prometheus exposition. */
  async metrics(): Promise<string> {
    const res = await this.#send('GET', '/metrics');
    if ((res.statusCode ?? 500) >= 300) throw await this.#failure(res);
    return this.#readAll(res);
  }

  /** Every registry entry, with what of the config uses it. */
  async plugins(): Promise<(RegistryEntry & { usedBy?: string[] })[]> {
    return (await this.request<PluginsBody>('GET', '/plugins')).plugins;
  }

  /** The daemon's version. */
  async version(): Promise<VersionBody> {
    return this.request<VersionBody>('GET', '/version');
  }

  /**
   * An app's log as a byte stream: the last `n` lines, and with `follow` everything appended after,
   * until the caller destroys the stream or the daemon stops.
   */
  async logs(app: string, opts: LogsOptions = {}): Promise<IncomingMessage> {
    return this.#stream(`/apps/${encodeURIComponent(app)}/logs`, opts);
  }

  /** Every app's log, each line marked `app | ` (see {@link logs}). */
  async allLogs(opts: LogsOptions = {}): Promise<IncomingMessage> {
    return this.#stream('/logs', opts);
  }

  /** The daemon's own log (see {@link logs}). */
  async daemonLogs(opts: Omit<LogsOptions, 'stream'> = {}): Promise<IncomingMessage> {
    return this.#stream('/daemon/logs', { n: opts.n, follow: opts.follow });
  }

  async #stream(path: string, opts: LogsOptions): Promise<IncomingMessage> {
    const q = new URLSearchParams({ n: String(opts.n ?? 10), follow: opts.follow ? '1' : '0', ...(opts.stream && { stream: opts.stream }) });
    const res = await this.#send('GET', `${path}?${q}`);
    if ((res.statusCode ?? 500) >= 300) throw await this.#failure(res);
    return res;
  }
}

function eventQuery(opts: { app?: string; since?: number; n?: number }, follow: boolean): URLSearchParams {
  const q = new URLSearchParams({ follow: follow ? '1' : '0' });
  if (opts.app !== undefined) q.set('app', opts.app);
  if (opts.since !== undefined) q.set('since', String(opts.since));
  if (opts.n !== undefined) q.set('n', String(opts.n));
  return q;
}
