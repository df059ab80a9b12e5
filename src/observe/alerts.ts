/**
 * The alert router (README "Alerts"): the events worth an alert, out of the event stream, to the
 * routes the config's `alerts` name (global, and each app's own), each delivered by its alerter
 * (`alerters.<type>`). Nothing here can hold up the daemon:
 *
 * - routing is synchronous and only queues; delivery runs later, one alert at a time per route, at
 *   most {@link QUEUE_CAP} waiting (older ones dropped, counted);
 * - each delivery is bounded by the route's `timeout` and retried `retries` times with backoff;
 * - a crash loop does not flood: per route, one alert per app and event per `interval`; the rest in
 *   that interval are folded into the next one sent, as `folded: N`;
 * - a failed delivery, an alerter that throws in `create` or in `send`, is logged (the daemon log
 *   folds repeats), never thrown.
 */
import type { AlertConfig, AppConfig, Config } from '../config/model.js';
import { appNotFound } from '../supervisor/supervisor.js';
import type { Registry } from '../plugins/registry.js';
import type { Alert, Alerter, AlertEventName, HookContext } from '../plugins/types.js';
import type { EventHub, GvEvent } from './events.js';

/** Alerts waiting per route before the oldest are dropped. */
export const QUEUE_CAP = 100;
/** Backoff before the first retry of a delivery, ms (doubling, at most {@link RETRY_MAX_MS}). */
export const RETRY_BASE_MS = 1_000;
export const RETRY_MAX_MS = 30_000;

/** The events that are alert-worthy, as the stream names them. */
const ALERTABLE = new Set<string>(['restart_failed', 'app_fatal', 'instance_exit', 'unhealthy', 'reload_failed', 'restart_succeeded', 'daemon_started', 'daemon_stopping']);

/** Where a route came from: the global section, or an app's own `alerts`. */
export type RouteScope = { kind: 'global' } | { kind: 'app'; app: string };

/** One configured route, ready to deliver. */
interface Route {
  /** `global[0]`, `web[1]`: which entry of which `alerts` list. */
  id: string;
  scope: RouteScope;
  config: AlertConfig;
  alerter: Alerter | null;
  queue: Alert[];
  sending: boolean;
  dropped: number;
  /** Per `app|event`: the end of its interval, and what was folded since. */
  folds: Map<string, { until: number; folded: number; last: Alert | null; timer: NodeJS.Timeout | null }>;
}

/** What a test alert did on one route (`gracevisorctl alerts test`). */
export interface AlertTestResult {
  route: string;
  type: string;
  scope: 'global' | 'app';
  app: string | null;
  ok: boolean;
  error: string | null;
  ms: number;
}

/** What `plugins list` says of an alerter: the routes that use it. */
export interface AlerterUse {
  type: string;
  routes: string[];
}

/** Routes events to alerters. */
export class AlertRouter {
  readonly #registry: Registry;
  readonly #log: HookContext['log'];
  #routes: Route[] = [];
  #apps = new Map<string, AppConfig>();
  readonly #off: () => void;
  readonly #retryBaseMs: number;
  #closed = false;

  /** Listen to `hub`; `configure` sets the routes. `retryBaseMs` shortens the backoff (tests). */
  constructor(hub: EventHub, registry: Registry, log: HookContext['log'], opts: { retryBaseMs?: number } = {}) {
    this.#registry = registry;
    this.#log = log;
    this.#retryBaseMs = opts.retryBaseMs ?? RETRY_BASE_MS;
    this.#off = hub.subscribe((e) => this.#route(e));
  }

  /**
   * Build the routes of `config` (at start and after each reload). Routes are built anew; the old
   * ones' queues are dropped and their alerters closed. An alerter whose `create` throws is logged
   * and its route delivers nothing.
   */
  async configure(config: Config): Promise<void> {
    const old = this.#routes;
    const routes: Route[] = [];
    config.alerts.forEach((c, i) => routes.push(this.#make(`global[${i}]`, { kind: 'global' }, c)));
    for (const app of config.apps) app.alerts.forEach((c, i) => routes.push(this.#make(`${app.name}[${i}]`, { kind: 'app', app: app.name }, c)));
    this.#routes = routes;
    this.#apps = new Map(config.apps.map((a) => [a.name, a]));
    await Promise.all(old.map((r) => this.#closeRoute(r)));
  }

  /** The alerter types in use and their routes, for `plugins list`. */
  uses(): AlerterUse[] {
    const by = new Map<string, string[]>();
    for (const r of this.#routes) by.set(r.config.type, [...(by.get(r.config.type) ?? []), r.id]);
    return [...by].map(([type, routes]) => ({ type, routes }));
  }

  /**
   * Send a test alert through every route that an event of `app` (or, without an app, a global
   * event) would take, once each, bounded by the route's timeout, and say which succeeded.
   */
  async test(app?: string): Promise<AlertTestResult[]> {
    if (app !== undefined && !this.#apps.has(app)) throw appNotFound(app, [...this.#apps.keys()]);
    const routes = this.#routesFor(app ?? null);
    return Promise.all(routes.map(async (r) => {
      const alert: Alert = { event: 'test', app: app ?? null, instance: null, at: new Date().toISOString(), message: 'a test alert, sent by gracevisorctl alerts test' };
      const t0 = performance.now();
      let error: string | null = null;
      try {
        if (!r.alerter) throw new Error('this route\'s alerter could not be created (see the daemon log)');
        await withTimeout(r.alerter, alert, r.config.timeout);
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
      return { route: r.id, type: r.config.type, scope: r.scope.kind, app: r.scope.kind === 'app' ? r.scope.app : null, ok: error === null, error, ms: Math.round(performance.now() - t0) };
    }));
  }

  /** Resolve once every route's queue is delivered (or failed), or after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.#routes.some((r) => r.sending || r.queue.length > 0)) await sleep(20);
  }

  /** Stop routing, wait for nothing, close every alerter. Queued alerts are dropped. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#off();
    const routes = this.#routes;
    this.#routes = [];
    await Promise.all(routes.map((r) => this.#closeRoute(r)));
  }

  #make(id: string, scope: RouteScope, config: AlertConfig): Route {
    const route: Route = { id, scope, config, alerter: null, queue: [], sending: false, dropped: 0, folds: new Map() };
    const def = this.#registry.alerter(config.type);
    if (!def) {
      this.#log('error', 'alert route has no alerter', { event: 'alert_failed', route: id, type: config.type });
      return route;
    }
    const { type: _t, events: _e, interval: _i, timeout: _to, retries: _r, ...options } = config;
    try {
      route.alerter = def.create(options, (level, msg, fields) => this.#log(level, msg, { route: id, ...fields }));
    } catch (err) {
      this.#log('error', 'an alerter could not be created; its route sends nothing', { event: 'alert_failed', route: id, type: config.type, plugin: this.#registry.pluginOf(`alerters.${config.type}`), error: (err as Error).message });
    }
    return route;
  }

  /** The routes an event of `app` (null: a global event) goes to. */
  #routesFor(app: string | null): Route[] {
    const cfg = app === null ? null : this.#apps.get(app);
    return this.#routes.filter((r) => (r.scope.kind === 'global' ? app === null || cfg?.global_alerts !== false : r.scope.app === app));
  }

  #route(e: GvEvent): void {
    if (this.#closed || !ALERTABLE.has(e.event)) return;
    const { seq: _seq, ...fields } = e;
    const alert = fields as unknown as Alert;
    for (const r of this.#routesFor(e.app)) {
      if (!r.config.events.includes(e.event as AlertEventName)) continue;
      this.#fold(r, alert);
    }
  }

  /** One alert per app and event per interval; the rest counted into the next one sent. */
  #fold(r: Route, alert: Alert): void {
    const key = `${alert.app ?? ''}|${alert.event}`;
    const now = Date.now();
    const f = r.folds.get(key);
    if (f && now < f.until) {
      f.folded++;
      f.last = alert;
      return;
    }
    this.#enqueue(r, alert);
    const entry = { until: now + r.config.interval, folded: 0, last: null as Alert | null, timer: null as NodeJS.Timeout | null };
    const flush = (): void => {
      entry.timer = null;
      if (entry.folded === 0 || !entry.last) {
        if (r.folds.get(key) === entry) r.folds.delete(key);
        return;
      }
      // What was folded goes out now, and starts an interval of its own.
      this.#enqueue(r, { ...entry.last, folded: entry.folded });
      entry.folded = 0;
      entry.last = null;
      entry.until = Date.now() + r.config.interval;
      entry.timer = setTimeout(flush, r.config.interval);
      entry.timer.unref();
    };
    entry.timer = setTimeout(flush, r.config.interval);
    entry.timer.unref();
    if (f?.timer) clearTimeout(f.timer);
    r.folds.set(key, entry);
  }

  #enqueue(r: Route, alert: Alert): void {
    if (!r.alerter) return;
    r.queue.push(alert);
    if (r.queue.length > QUEUE_CAP) {
      r.queue.shift();
      r.dropped++;
      this.#log('warn', 'alerts dropped: the route cannot keep up', { event: 'alert_failed', route: r.id, type: r.config.type, dropped: r.dropped });
    }
    if (!r.sending) void this.#drain(r);
  }

  /** Deliver a route's queue in order, each alert with its retries. */
  async #drain(r: Route): Promise<void> {
    r.sending = true;
    try {
      while (r.queue.length > 0 && this.#routes.includes(r)) {
        const alert = r.queue.shift()!;
        await this.#deliver(r, alert);
      }
    } finally {
      r.sending = false;
    }
  }

  async #deliver(r: Route, alert: Alert): Promise<void> {
    const attempts = r.config.retries + 1;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await withTimeout(r.alerter!, alert, r.config.timeout);
        return;
      } catch (err) {
        const last = attempt === attempts;
        this.#log('warn', last ? 'alert not delivered' : 'alert delivery failed; retrying', {
          event: 'alert_failed', route: r.id, type: r.config.type, alert: alert.event, ...(alert.app && { app: alert.app }), attempt, error: err instanceof Error ? err.message : String(err),
        });
        if (last || !this.#routes.includes(r)) return;
        await sleep(Math.min(RETRY_MAX_MS, this.#retryBaseMs * 2 ** (attempt - 1)));
      }
    }
  }

  async #closeRoute(r: Route): Promise<void> {
    r.queue.length = 0;
    for (const f of r.folds.values()) if (f.timer) clearTimeout(f.timer);
    r.folds.clear();
    try {
      await r.alerter?.close?.();
    } catch (err) {
      this.#log('warn', 'an alerter failed to close', { route: r.id, type: r.config.type, error: (err as Error).message });
    }
  }
}

/** `alerter.send` bounded by `ms`: its signal is aborted then, and the delivery fails whether it honours it or not. */
async function withTimeout(alerter: Alerter, alert: Alert, ms: number): Promise<void> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort();
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    await Promise.race([Promise.resolve().then(() => alerter.send(alert, ctl.signal)), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
