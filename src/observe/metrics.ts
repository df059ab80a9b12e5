/**
 * Prometheus metrics (README "Metrics"), in the text format of prom-client, from a registry of this
 * daemon's own (never prom-client's global one). Two kinds:
 *
 * - counted from the event stream as things happen: restarts by result, restart duration, switch
 *   latency (an instance ready → traffic on it), drain duration, instance exits;
 * - read at scrape time from the supervisor's status and the engines' own counters: app and
 *   instance states, instance up, CPU and RSS of each instance's process group, the backoff level,
 *   connections, requests, bytes, responses by status class, the engine's own answers (400, 502,
 *   503, 504), request duration, requests held and how long.
 *
 * Nothing here runs per request: the http engine counts with plain integers (src/engines/http/
 * counters.ts) and this reads them when scraped. Plus prom-client's process and Node.js metrics of
 * the daemon itself.
 */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { AppStatus, SupervisorApi } from '../supervisor/api.js';
import { SwitchLatency, type EventHub, type GvEvent } from './events.js';

/** A metric whose values are read from a snapshot at scrape time (prom-client calls `get()`). */
interface Sample {
  value: number;
  labels?: Record<string, string | number>;
  metricName?: string;
}

class Snapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly aggregator = 'sum';
  readonly #read: () => Sample[];

  constructor(name: string, help: string, type: 'gauge' | 'counter' | 'histogram', read: () => Sample[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#read = read;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.#read() };
  }

  reset(): void {}
}

const STATES = ['running', 'starting', 'restarting', 'stopping', 'stopped', 'fatal'] as const;
const INSTANCE_STATES = ['starting', 'serving', 'draining', 'stopping', 'unhealthy'] as const;

/** Buckets of restart, drain and switch durations, seconds. */
const RESTART_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const SWITCH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** The daemon's metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly #api: SupervisorApi;
  readonly #off: () => void;
  readonly #switch = new SwitchLatency();
  readonly #restarts: Counter<'app' | 'result'>;
  readonly #restartDuration: Histogram<'app'>;
  readonly #switchLatency: Histogram<'app'>;
  readonly #drainDuration: Histogram<'app' | 'drained'>;
  readonly #exits: Counter<'app' | 'expected'>;
  readonly #healthFailures: Counter<'app'>;

  /** Count from `hub`; read the rest from `api` when scraped. */
  constructor(api: SupervisorApi, hub: EventHub) {
    this.#api = api;
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    // prom-client names these gauges `_total`, which promtool's lint (rightly) refuses: counts of
    // active handles are not counters. The process metrics above them are the ones that matter.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) r.removeSingleMetric(name);
    this.#restarts = new Counter({ name: 'gracevisor_restarts_total', help: 'Restarts by result: succeeded, failed (a crashed instance replaced counts as succeeded)', labelNames: ['app', 'result'], registers: [r] });
    this.#restartDuration = new Histogram({ name: 'gracevisor_restart_duration_seconds', help: 'How long a restart took, from its start to the old instances stopped', labelNames: ['app'], buckets: RESTART_BUCKETS, registers: [r] });
    this.#switchLatency = new Histogram({ name: 'gracevisor_switch_latency_seconds', help: 'From a new instance passing its readiness check to traffic moving to it', labelNames: ['app'], buckets: SWITCH_BUCKETS, registers: [r] });
    this.#drainDuration = new Histogram({ name: 'gracevisor_drain_duration_seconds', help: 'How long an old instance took to finish its in-flight work (drained=false: drain_timeout passed)', labelNames: ['app', 'drained'], buckets: RESTART_BUCKETS, registers: [r] });
    this.#exits = new Counter({ name: 'gracevisor_instance_exits_total', help: 'Instances gone: expected (stopped) or not (crashed)', labelNames: ['app', 'expected'], registers: [r] });
    this.#healthFailures = new Counter({ name: 'gracevisor_health_check_failures_total', help: 'Liveness checks that turned an instance from healthy to failing', labelNames: ['app'], registers: [r] });
    this.#snapshots();
    this.#off = hub.subscribe((e) => this.#count(e));
  }

  /** The exposition (Prometheus text format 0.0.4). */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Its content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stop counting. */
  close(): void {
    this.#off();
    this.registry.clear();
  }

  #count(e: GvEvent): void {
    const app = e.app ?? '';
    for (const ms of this.#switch.feed(e)) this.#switchLatency.observe({ app }, ms / 1000);
    switch (e.event) {
      case 'restart_succeeded':
        this.#restarts.inc({ app, result: 'succeeded' });
        if (typeof e.durationMs === 'number') this.#restartDuration.observe({ app }, e.durationMs / 1000);
        break;
      case 'restart_failed':
        this.#restarts.inc({ app, result: 'failed' });
        break;
      case 'drained':
        if (typeof e.elapsedMs === 'number') this.#drainDuration.observe({ app, drained: String(e.drained) }, e.elapsedMs / 1000);
        break;
      case 'instance_exit':
        this.#exits.inc({ app, expected: 'false' });
        break;
      case 'instance_stopped':
        this.#exits.inc({ app, expected: 'true' });
        break;
      case 'health':
        if (e.healthy === false) this.#healthFailures.inc({ app });
        break;
      default:
        break;
    }
  }

  /** The metrics read from status and the engines at scrape time. */
  #snapshots(): void {
    const r = this.registry;
    // One status per scrape: every snapshot metric reads the same one.
    let cached: { at: number; apps: AppStatus[] } | null = null;
    const apps = (): AppStatus[] => {
      const now = performance.now();
      if (!cached || now - cached.at > 250) cached = { at: now, apps: this.#api.status() };
      return cached.apps;
    };
    const each = (fn: (a: AppStatus) => Sample[]) => (): Sample[] => apps().flatMap(fn);
    const add = (name: string, help: string, type: 'gauge' | 'counter' | 'histogram', read: () => Sample[]): void => r.registerMetric(new Snapshot(name, help, type, read) as never);

    add('gracevisor_app_state', 'The state of each app (1 for the current one)', 'gauge', each((a) => STATES.map((s) => ({ value: a.state === s ? 1 : 0, labels: { app: a.name, state: s } }))));
    add('gracevisor_instances', 'Instances of each app by state', 'gauge', each((a) => INSTANCE_STATES.map((s) => ({ value: a.instances.filter((i) => i.state === s).length, labels: { app: a.name, state: s } }))));
    add('gracevisor_instance_up', 'An instance serves (1) or not (0)', 'gauge', each((a) => a.instances.map((i) => ({ value: i.state === 'serving' ? 1 : 0, labels: { app: a.name, instance: i.id, engine: a.engine } }))));
    add('gracevisor_instance_cpu_seconds_total', 'CPU time of an instance\'s process group', 'counter', each((a) => a.instances.filter((i) => i.cpuSeconds !== null).map((i) => ({ value: i.cpuSeconds!, labels: { app: a.name, instance: i.id } }))));
    add('gracevisor_instance_resident_memory_bytes', 'Resident memory of an instance\'s process group', 'gauge', each((a) => a.instances.filter((i) => i.rssBytes !== null).map((i) => ({ value: i.rssBytes!, labels: { app: a.name, instance: i.id } }))));
    add('gracevisor_instance_probe_failures_total', 'Liveness probes of an instance that failed', 'counter', each((a) => a.instances.map((i) => ({ value: i.probeFailures, labels: { app: a.name, instance: i.id } }))));
    add('gracevisor_backoff_level', 'Consecutive failed starts of an app (0 when healthy)', 'gauge', each((a) => [{ value: a.failures, labels: { app: a.name } }]));
    add('gracevisor_app_restarts_total', 'Restarts completed since the app was added (as gracevisorctl status counts them)', 'counter', each((a) => [{ value: a.restarts, labels: { app: a.name } }]));
    add('gracevisor_connections', 'Client connections open on an app\'s public listener', 'gauge', each((a) => [{ value: a.stats.connections, labels: { app: a.name, engine: a.engine } }]));
    add('gracevisor_requests_total', 'Requests (http) or connections (tcp, splice) handled', 'counter', each((a) => [{ value: a.stats.requests, labels: { app: a.name, engine: a.engine } }]));
    add('gracevisor_engine_errors_total', 'Work the engine answered or refused itself', 'counter', each((a) => [{ value: a.stats.errors, labels: { app: a.name, engine: a.engine } }]));
    add('gracevisor_received_bytes_total', 'Bytes read from clients', 'counter', each((a) => [{ value: a.stats.bytesIn, labels: { app: a.name, engine: a.engine } }]));
    add('gracevisor_sent_bytes_total', 'Bytes written to clients', 'counter', each((a) => [{ value: a.stats.bytesOut, labels: { app: a.name, engine: a.engine } }]));
    add('gracevisor_target_in_flight', 'Work in flight per instance: what a drain waits on', 'gauge', each((a) => a.stats.targets.map((tg) => ({ value: tg.inFlight, labels: { app: a.name, instance: tg.id } }))));
    add('gracevisor_held_requests', 'Requests or connections held now while no instance is ready', 'gauge', each((a) => (a.stats.held ? [{ value: a.stats.held.now, labels: { app: a.name } }] : [])));
    add('gracevisor_held_total', 'Requests or connections ever held while no instance was ready', 'counter', each((a) => (a.stats.held ? [{ value: a.stats.held.total, labels: { app: a.name } }] : [])));
    add('gracevisor_held_seconds_total', 'Time everything held has waited', 'counter', each((a) => (a.stats.held ? [{ value: a.stats.held.totalMs / 1000, labels: { app: a.name } }] : [])));
    add('gracevisor_http_responses_total', 'HTTP responses by status class', 'counter', each((a) => (a.stats.http ? Object.entries(a.stats.http.responses).map(([code_class, value]) => ({ value, labels: { app: a.name, code_class } })) : [])));
    add('gracevisor_http_proxy_answers_total', 'Answers the http engine gave itself: 400 (refused to forward), 502 (instance unreachable), 503 (no instance ready), 504 (instance did not answer in time)', 'counter', each((a) => (a.stats.http ? ['400', '502', '503', '504'].map((status) => ({ value: a.stats.http!.answered[status] ?? 0, labels: { app: a.name, status } })) : [])));
    add('gracevisor_http_request_duration_seconds', 'From a request\'s arrival to the end of its response', 'histogram', each((a) => {
      const l = a.stats.http?.latency;
      if (!l) return [];
      const out: Sample[] = [];
      let cum = 0;
      l.bounds.forEach((b, i) => {
        cum += l.counts[i] ?? 0;
        out.push({ metricName: 'gracevisor_http_request_duration_seconds_bucket', value: cum, labels: { app: a.name, le: b } });
      });
      out.push({ metricName: 'gracevisor_http_request_duration_seconds_bucket', value: l.count, labels: { app: a.name, le: '+Inf' } });
      out.push({ metricName: 'gracevisor_http_request_duration_seconds_sum', value: l.sum, labels: { app: a.name } });
      out.push({ metricName: 'gracevisor_http_request_duration_seconds_count', value: l.count, labels: { app: a.name } });
      return out;
    }));
  }
}
