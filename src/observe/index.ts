/**
 * Observability (docs/architecture.md "Observability"), composed once per daemon: the event stream
 * off the supervisor's hooks, the alert router and the metrics reading it, and StatsD when the
 * config names it. gracevisord builds one after loading the config and before starting the apps, so
 * that the first events are seen; the control API serves it (`/v1/events`, `/v1/metrics`,
 * `/v1/alerts/test`).
 */
import type { Config } from '../config/model.js';
import type { Hooks } from '../plugins/hooks.js';
import type { Registry } from '../plugins/registry.js';
import type { HookContext, RegistryEntry } from '../plugins/types.js';
import type { SupervisorApi } from '../supervisor/api.js';
import { AlertRouter } from './alerts.js';
import { EventHub } from './events.js';
import { Metrics } from './metrics.js';
import { StatsdPusher } from './statsd.js';

export type { GvEvent } from './events.js';
export type { AlertTestResult } from './alerts.js';

/** What the observability needs of the supervisor. */
export interface ObservedSupervisor extends SupervisorApi {
  readonly hooks: Hooks;
  readonly registry: Registry;
  readonly config: Config;
}

/** The event stream, alerts and metrics of one daemon. */
export class Observability {
  readonly events: EventHub;
  readonly alerts: AlertRouter;
  readonly metrics: Metrics;
  #statsd: StatsdPusher | null = null;
  readonly #sup: ObservedSupervisor;
  readonly #log: HookContext['log'];
  #statsdKey = '';

  private constructor(sup: ObservedSupervisor, log: HookContext['log']) {
    this.#sup = sup;
    this.#log = log;
    this.events = new EventHub(sup.hooks);
    this.alerts = new AlertRouter(this.events, sup.registry, log);
    this.metrics = new Metrics(sup, this.events);
    // A reload that took effect brings new alert routes and maybe a new StatsD server.
    this.events.subscribe((e) => {
      if (e.event === 'config_reloaded') void this.configure(this.#sup.config);
    });
  }

  /** Build it for `sup` with the config now in effect. */
  static async start(sup: ObservedSupervisor, log: HookContext['log']): Promise<Observability> {
    const o = new Observability(sup, log);
    await o.configure(sup.config);
    return o;
  }

  /** Apply `config`'s alert routes and StatsD settings. */
  async configure(config: Config): Promise<void> {
    await this.alerts.configure(config);
    const key = JSON.stringify(config.metrics.statsd);
    if (key === this.#statsdKey) return;
    this.#statsdKey = key;
    const old = this.#statsd;
    this.#statsd = config.metrics.statsd ? new StatsdPusher(config.metrics.statsd, this.#sup, this.events, this.#log) : null;
    await old?.close();
  }

  /** The StatsD pusher, when configured. */
  get statsd(): StatsdPusher | null {
    return this.#statsd;
  }

  /** `plugins list` with what the config uses: the apps of each engine and check type, the routes of each alerter. */
  plugins(): (RegistryEntry & { usedBy: string[] })[] {
    const config = this.#sup.config;
    const alerters = new Map(this.alerts.uses().map((u) => [u.type, u.routes]));
    return this.#sup.plugins().map((e) => {
      const key = e.id.slice(e.kind.length + 1);
      const usedBy = e.kind === 'engines'
        ? config.apps.filter((a) => a.proxy === key).map((a) => a.name)
        : e.kind === 'healthchecks'
          ? config.apps.filter((a) => (a.healthcheck?.type ?? (key === 'tcp' ? 'tcp' : null)) === key).map((a) => a.name)
          : (alerters.get(key) ?? []);
      return { ...e, usedBy };
    });
  }

  /**
   * Stop everything (daemon shutdown): alerts still queued get up to `flushMs` to go out (the
   * `daemon_stopping` alert among them), then routes are closed, StatsD flushed, hooks let go.
   */
  async close(flushMs = 5_000): Promise<void> {
    await this.alerts.flush(flushMs);
    await this.alerts.close();
    await this.#statsd?.close();
    this.metrics.close();
    this.events.close();
  }
}
