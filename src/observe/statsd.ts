/**
 * StatsD (README "Metrics"): the same counters and timings as the Prometheus metrics, pushed over UDP
 * with hot-shots to `metrics.statsd` — timings and counts as events happen (a restart, a switch, a
 * drain, an exit), and every `interval` each app's gauges (connections, instances up, held) and the
 * growth of its counters (requests, errors, bytes, responses by class). Names are
 * `<prefix>apps.<app>.<metric>`. UDP never waits for an answer: a StatsD server that is down costs
 * the daemon nothing but a log line now and then.
 */
import { StatsD } from 'hot-shots';
import type { MetricsConfig } from '../config/model.js';
import type { HookContext } from '../plugins/types.js';
import type { AppStatus, SupervisorApi } from '../supervisor/api.js';
import { SwitchLatency, type EventHub, type GvEvent } from './events.js';

/** Pushes metrics to one StatsD server. */
export class StatsdPusher {
  readonly #client: StatsD;
  readonly #api: SupervisorApi;
  readonly #off: () => void;
  readonly #timer: NodeJS.Timeout;
  /** Each app's counters at the last push, to send their growth. */
  readonly #last = new Map<string, Record<string, number>>();
  readonly #switch = new SwitchLatency();

  constructor(cfg: NonNullable<MetricsConfig['statsd']>, api: SupervisorApi, hub: EventHub, log: HookContext['log']) {
    this.#api = api;
    this.#client = new StatsD({
      host: cfg.host,
      port: cfg.port,
      prefix: cfg.prefix,
      // One UDP socket, never a lookup per packet; a failed send is logged (folded), never thrown.
      cacheDns: true,
      errorHandler: (err: Error) => log('warn', 'statsd send failed', { event: 'statsd_failed', error: (err as NodeJS.ErrnoException).code ?? err.message }),
    });
    this.#off = hub.subscribe((e) => this.#event(e));
    this.#timer = setInterval(() => this.push(), cfg.interval);
    this.#timer.unref();
  }

  /** Push every app's gauges and counter growth now (the interval does this; tests call it). */
  push(): void {
    let apps: AppStatus[];
    try {
      apps = this.#api.status();
    } catch {
      return;
    }
    for (const a of apps) {
      const n = name(a.name);
      const s = a.stats;
      this.#client.gauge(`apps.${n}.connections`, s.connections);
      this.#client.gauge(`apps.${n}.instances_up`, a.instances.filter((i) => i.state === 'serving').length);
      this.#client.gauge(`apps.${n}.backoff_level`, a.failures);
      if (s.held) this.#client.gauge(`apps.${n}.held`, s.held.now);
      const now: Record<string, number> = { requests: s.requests, errors: s.errors, bytes_in: s.bytesIn, bytes_out: s.bytesOut };
      if (s.http) {
        for (const [cls, v] of Object.entries(s.http.responses)) now[`responses.${cls}`] = v;
        for (const [status, v] of Object.entries(s.http.answered)) now[`proxy_answers.${status}`] = v;
      }
      const before = this.#last.get(a.name) ?? {};
      for (const [k, v] of Object.entries(now)) {
        const d = v - (before[k] ?? 0);
        if (d > 0) this.#client.increment(`apps.${n}.${k}`, d);
      }
      this.#last.set(a.name, now);
    }
  }

  /** Stop pushing and close the socket. */
  close(): Promise<void> {
    this.#off();
    clearInterval(this.#timer);
    return new Promise((resolve) => this.#client.close(() => resolve()));
  }

  #event(e: GvEvent): void {
    if (!e.app) return;
    const n = name(e.app);
    for (const ms of this.#switch.feed(e)) this.#client.timing(`apps.${n}.switch_latency`, ms);
    switch (e.event) {
      case 'restart_succeeded':
        this.#client.increment(`apps.${n}.restarts.succeeded`);
        if (typeof e.durationMs === 'number') this.#client.timing(`apps.${n}.restart_duration`, e.durationMs);
        break;
      case 'restart_failed':
        this.#client.increment(`apps.${n}.restarts.failed`);
        break;
      case 'drained':
        if (typeof e.elapsedMs === 'number') this.#client.timing(`apps.${n}.drain_duration`, e.elapsedMs);
        break;
      case 'instance_exit':
        this.#client.increment(`apps.${n}.instance_exits.crashed`);
        break;
      case 'instance_stopped':
        this.#client.increment(`apps.${n}.instance_exits.stopped`);
        break;
      default:
        break;
    }
  }
}

/** An app name as one StatsD path segment. */
function name(app: string): string {
  return app.replace(/[^A-Za-z0-9_-]/g, '_');
}
