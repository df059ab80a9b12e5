/**
 * The event stream (docs/architecture.md "Observability"): every lifecycle hook turned into one plain
 * JSON event — `{ seq, event, app, instance, at, …fields }` — kept in a bounded ring of recent ones
 * and handed to every subscriber as it happens: the alert router, the metrics, `GET /v1/events` (and
 * through it `gracevisorctl events` and the dashboard). It subscribes to the hooks like a plugin
 * does (as `gracevisor:observe`), so it sits off the supervisor's path: a slow subscriber is its own
 * business, and an event is never awaited by a restart.
 */
import type { Hooks } from '../plugins/hooks.js';
import type { HookContext } from '../plugins/types.js';

/** One event. `seq` grows by one per event for the daemon's life; `at` is ISO time. */
export interface GvEvent {
  seq: number;
  event: string;
  app: string | null;
  instance: string | null;
  at: string;
  [field: string]: unknown;
}

/** How many recent events are kept for a subscriber that joins late (`gracevisorctl events`, a dashboard opened now). */
export const EVENT_RING = 2_000;

/** The daemon's events: the hooks in, subscribers out. */
export class EventHub {
  readonly #ring: GvEvent[] = [];
  readonly #subs = new Set<(e: GvEvent) => void>();
  #seq = 0;
  readonly #offs: (() => void)[] = [];

  /** Subscribe to `hooks` (the supervisor's). */
  constructor(hooks: Hooks) {
    const on = hooks.subscriber('gracevisor:observe').on;
    const app = (ctx: HookContext): string | null => ctx.app;
    this.#offs.push(
      hooks.add('gracevisor:observe', 'preRestart', (ctx, e) => {
        this.publish({ event: 'restart_started', app: app(ctx), instance: null, reason: e.reason });
      }, 'post'),
      on('onInstanceState', (ctx, e) => {
        this.publish({ event: 'instance_state', app: app(ctx), instance: e.instance.id, pid: e.instance.pid, port: e.instance.port, from: e.from, to: e.to, ...(e.error !== undefined && { error: { code: null, message: e.error } }) });
        if (e.to === 'unhealthy') this.publish({ event: 'unhealthy', app: app(ctx), instance: e.instance.id, pid: e.instance.pid, detail: e.error ?? null });
      }),
      on('onSwitched', (ctx, e) => void this.publish({ event: 'switched', app: app(ctx), instance: e.to.at(-1)?.id ?? null, from: e.from.map((i) => i.id), to: e.to.map((i) => i.id) })),
      on('onInstanceDraining', (ctx, e) => void this.publish({ event: 'draining', app: app(ctx), instance: e.instance.id, inFlight: e.inFlight })),
      on('onInstanceDrained', (ctx, e) => void this.publish({ event: 'drained', app: app(ctx), instance: e.instance.id, drained: e.drained, open: e.open, elapsedMs: e.elapsedMs })),
      // A crash is an instance that exited while serving (state `exited`); a start that failed is
      // reported by restart_failed, and a stop is a stop.
      on('onInstanceExit', (ctx, e) => void this.publish({ event: e.instance.state === 'exited' ? 'instance_exit' : 'instance_stopped', app: app(ctx), instance: e.instance.id, pid: e.instance.pid, state: e.instance.state, exit: e.exit })),
      on('onHealthChange', (ctx, e) => void this.publish({ event: 'health', app: app(ctx), instance: e.instance.id, healthy: e.healthy, detail: e.detail })),
      on('onRestartSucceeded', (ctx, e) => void this.publish({ event: 'restart_succeeded', app: app(ctx), instance: e.to.at(-1)?.id ?? null, durationMs: e.durationMs, instances: e.to.map((i) => i.id) })),
      on('onRestartFailed', (ctx, e) => void this.publish({
        event: 'restart_failed', app: app(ctx), instance: e.instance, error: e.error, attempt: e.attempt, nextAttemptMs: e.nextAttemptMs, detail: e.detail, stderr: e.stderr,
      })),
      on('onAppFatal', (ctx, e) => void this.publish({ event: 'app_fatal', app: app(ctx), instance: null, error: e.error, retries: e.retries })),
      on('onAppAdded', (ctx) => void this.publish({ event: 'app_added', app: app(ctx), instance: null })),
      on('onAppRemoved', (ctx, e) => void this.publish({ event: 'app_removed', app: e.name, instance: null })),
      on('onConfigReloaded', (_ctx, e) => void this.publish({ event: 'config_reloaded', app: null, instance: null, ...e })),
      on('onReloadStarted', () => void this.publish({ event: 'reload_started', app: null, instance: null })),
      on('onReloadFailed', (_ctx, e) => void this.publish({ event: 'reload_failed', app: null, instance: null, error: e.error, errors: e.errors })),
      on('onDaemonReady', (_ctx, e) => void this.publish({ event: 'daemon_started', app: null, instance: null, apps: e.config.apps.map((a) => a.name) })),
      on('onDaemonStop', (_ctx, e) => void this.publish({ event: 'daemon_stopping', app: null, instance: null, signal: e.signal })),
    );
  }

  /** Number the event, keep it, and hand it to every subscriber (a throwing subscriber is its own problem). */
  publish(e: Omit<GvEvent, 'seq' | 'at'> & { at?: string }): GvEvent {
    const event = { seq: ++this.#seq, at: e.at ?? new Date().toISOString(), ...e } as GvEvent;
    this.#ring.push(event);
    if (this.#ring.length > EVENT_RING) this.#ring.splice(0, this.#ring.length - EVENT_RING);
    for (const s of this.#subs) {
      try {
        s(event);
      } catch {
        // A subscriber's bug is not the daemon's.
      }
    }
    return event;
  }

  /** Hear every event from now on; returns the unsubscribe function. */
  subscribe(fn: (e: GvEvent) => void): () => void {
    this.#subs.add(fn);
    return () => this.#subs.delete(fn);
  }

  /** The recent events (oldest first), of one app when given, after `since` (a seq) when given. */
  recent(opts: { app?: string; since?: number; limit?: number } = {}): GvEvent[] {
    let out = this.#ring.filter((e) => (opts.app === undefined || e.app === opts.app) && (opts.since === undefined || e.seq > opts.since));
    if (opts.limit !== undefined && out.length > opts.limit) out = out.slice(out.length - opts.limit);
    return out;
  }

  /** Stop listening to the hooks and drop every subscriber. */
  close(): void {
    for (const off of this.#offs.splice(0)) off();
    this.#subs.clear();
  }
}

/**
 * Switch latency from the stream: when an instance became ready (`instance_state` to serving) until
 * traffic moved to it (`switched`). Metrics and StatsD each keep one.
 */
export class SwitchLatency {
  readonly #readyAt = new Map<string, number>();

  /** Feed an event; returns the latencies (ms) of the instances it switched to, if any. */
  feed(e: GvEvent): number[] {
    if (e.event === 'instance_state' && e.instance) {
      if (e.to === 'serving') this.#readyAt.set(e.instance, performance.now());
      else this.#readyAt.delete(e.instance);
      return [];
    }
    if (e.event !== 'switched') return [];
    const out: number[] = [];
    for (const id of (e.to as string[] | undefined) ?? []) {
      const t = this.#readyAt.get(id);
      if (t === undefined) continue;
      this.#readyAt.delete(id);
      out.push(performance.now() - t);
    }
    return out;
  }
}
