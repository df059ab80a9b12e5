/**
 * The plugin API: what a plugin is, what it may contribute, and the one table of lifecycle hooks.
 * A plugin is a plain named object (see `definePlugin` in ./define.ts); built-ins use the same shape.
 * The engine contract is in ./engine.ts, beside this.
 */
import type { EngineDefinition, Target } from './engine.js';
import type { AppConfig, Config, HealthcheckConfig } from '../config/model.js';
import type { SourcePosition } from '../errors.js';

/** The plugin API version this build of gracevisor speaks. */
export const API_VERSION = 1;

/** Instance states (docs/architecture.md, "Instance states"). */
export type InstanceState =
  | 'starting'
  | 'serving'
  | 'draining'
  | 'stopping'
  | 'stopped'
  | 'killed'
  | 'failed'
  | 'timed_out'
  | 'exited'
  | 'unhealthy';

/** What hooks are told about an instance. */
export interface InstanceInfo {
  app: string;
  /** `app#n`, unique for the daemon's life. */
  id: string;
  pid: number | null;
  port: number;
  state: InstanceState;
}

/** How a process ended. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** The context every hook handler receives: which app, and a logger tagged with the plugin's name. */
export interface HookContext {
  app: string | null;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * The hook table. `pre*` hooks run in series before a transition and may veto it by throwing or
 * returning `false`; `on*` hooks report what happened, run in parallel, and a handler that throws or
 * hangs is reported with the plugin's name and never stops the supervisor. `HOOK_MODES` below is
 * the run mode of each, declared here beside the names.
 */
export interface HookTable {
  /** Before a new instance is spawned. Veto: the start (and the restart around it) is not attempted. */
  preInstanceStart(ctx: HookContext, e: { instance: InstanceInfo; reason: 'start' | 'restart' | 'replace' | 'scale' }): void | boolean | Promise<void | boolean>;
  /** Before traffic moves to a ready instance. Veto: the new instance is torn down, the old one keeps serving. */
  preSwitch(ctx: HookContext, e: { from: InstanceInfo[]; to: InstanceInfo }): void | boolean | Promise<void | boolean>;
  /** Before a restart begins. Veto: the restart is refused with GV_ERR_HOOK_VETO. */
  preRestart(ctx: HookContext, e: { reason: string }): void | boolean | Promise<void | boolean>;

  /** Every instance state transition, whatever it is. */
  onInstanceState(ctx: HookContext, e: { instance: InstanceInfo; from: InstanceState | null; to: InstanceState; error?: string }): void | Promise<void>;
  /** A new instance was spawned and is starting. */
  onInstanceStarting(ctx: HookContext, e: { instance: InstanceInfo }): void | Promise<void>;
  /** An instance passed its readiness check. */
  onInstanceReady(ctx: HookContext, e: { instance: InstanceInfo; readyMs: number }): void | Promise<void>;
  /** The engine now sends new work to `to`; `from` get none. */
  onSwitched(ctx: HookContext, e: { from: InstanceInfo[]; to: InstanceInfo[] }): void | Promise<void>;
  /** An instance stopped getting new work and is finishing what it has. */
  onInstanceDraining(ctx: HookContext, e: { instance: InstanceInfo; inFlight: number }): void | Promise<void>;
  /** Drain finished (or timed out) for an instance. */
  onInstanceDrained(ctx: HookContext, e: { instance: InstanceInfo; drained: boolean; open: number; elapsedMs: number }): void | Promise<void>;
  /** stop_signal was sent to an instance's process group. */
  onInstanceStopping(ctx: HookContext, e: { instance: InstanceInfo; signal: string }): void | Promise<void>;
  /** An instance's process is gone, expected or not. */
  onInstanceExit(ctx: HookContext, e: { instance: InstanceInfo; exit: ExitInfo; expected: boolean }): void | Promise<void>;
  /** A liveness check changed its verdict on a serving instance. */
  onHealthChange(ctx: HookContext, e: { instance: InstanceInfo; healthy: boolean; detail: string }): void | Promise<void>;
  /** A restart completed: traffic is on the new instance(s). */
  onRestartSucceeded(ctx: HookContext, e: { durationMs: number; to: InstanceInfo[] }): void | Promise<void>;
  /**
   * A restart (or a start) failed; the old instance(s) keep serving. `nextAttemptMs` is the backoff,
   * or null if giving up. `instance` is the new instance that failed, `detail` its last probe's
   * answer (or how it exited), `stderr` the last lines it wrote there: what a person paged needs.
   */
  onRestartFailed(ctx: HookContext, e: { error: { code: string; message: string }; attempt: number; nextAttemptMs: number | null; instance: string | null; detail: string | null; stderr: string[] }): void | Promise<void>;
  /** An app gave up after max_retries: nothing will be restarted until an operator acts. */
  onAppFatal(ctx: HookContext, e: { error: { code: string; message: string }; retries: number }): void | Promise<void>;
  /** An app was added (at start, by reload, or by `add`). */
  onAppAdded(ctx: HookContext, e: { config: AppConfig }): void | Promise<void>;
  /** An app was removed and its instances stopped. */
  onAppRemoved(ctx: HookContext, e: { name: string }): void | Promise<void>;
  /** A reload began (SIGHUP or the control API); onConfigReloaded or onReloadFailed follows. */
  onReloadStarted(ctx: HookContext, e: Record<string, never>): void | Promise<void>;
  /** A reload did not load: nothing changed. `errors` are every problem, each with its position. */
  onReloadFailed(ctx: HookContext, e: { error: { code: string; message: string }; errors: { code: string; message: string; pos?: SourcePosition }[] }): void | Promise<void>;
  /** A reload took effect. */
  onConfigReloaded(ctx: HookContext, e: { added: string[]; removed: string[]; changed: string[]; unchanged: string[] }): void | Promise<void>;
  /** The daemon is up: every app started (or failed to). */
  onDaemonReady(ctx: HookContext, e: { config: Config }): void | Promise<void>;
  /** The daemon is shutting down. */
  onDaemonStop(ctx: HookContext, e: { signal: string | null }): void | Promise<void>;
}

/** The name of a hook. */
export type HookName = keyof HookTable;

/** Run mode of each hook, declared once, beside the table. */
export const HOOK_MODES: { readonly [K in HookName]: K extends `pre${string}` ? 'series' : 'parallel' } = {
  preInstanceStart: 'series',
  preSwitch: 'series',
  preRestart: 'series',
  onInstanceState: 'parallel',
  onInstanceStarting: 'parallel',
  onInstanceReady: 'parallel',
  onSwitched: 'parallel',
  onInstanceDraining: 'parallel',
  onInstanceDrained: 'parallel',
  onInstanceStopping: 'parallel',
  onInstanceExit: 'parallel',
  onHealthChange: 'parallel',
  onRestartSucceeded: 'parallel',
  onRestartFailed: 'parallel',
  onAppFatal: 'parallel',
  onAppAdded: 'parallel',
  onAppRemoved: 'parallel',
  onReloadStarted: 'parallel',
  onReloadFailed: 'parallel',
  onConfigReloaded: 'parallel',
  onDaemonReady: 'parallel',
  onDaemonStop: 'parallel',
};

/** A hook handler as a plugin writes it: the function, or `{ handler, order }` to run before or after others. */
export type HookEntry<K extends HookName> = HookTable[K] | { handler: HookTable[K]; order?: 'pre' | 'post' };

/** The side of the hooks a plugin gets: subscribe, never emit. */
export interface HookSubscriber {
  on<K extends HookName>(name: K, handler: HookTable[K]): () => void;
}

/** The result of one health probe. */
export interface ProbeResult {
  ok: boolean;
  /** Short human text: `200 OK in 3ms`, `ECONNREFUSED`, `exit 1`. */
  detail: string;
}

/** How a plugin contributes a health check type (registered as `healthchecks.<key>`). */
export interface HealthcheckDefinition {
  description: string;
  /**
   * Validate and normalise the type-specific options of a `healthcheck` block. Throw a GvError
   * (GV_ERR_CONFIG_HEALTHCHECK) naming the bad option; `pos` is where the block is.
   */
  parse?(options: Record<string, unknown>, pos: SourcePosition): Record<string, unknown>;
  /** One probe of `target`. Must honour `signal` (aborted at the check's timeout). */
  probe(target: Target, check: HealthcheckConfig, signal: AbortSignal): Promise<ProbeResult>;
}

/** The events an alert may be about (README "Alerts and events" gives each one's fields). */
export type AlertEventName =
  | 'restart_failed'
  | 'app_fatal'
  | 'instance_exit'
  | 'unhealthy'
  | 'reload_failed'
  | 'restart_succeeded'
  | 'daemon_started'
  | 'daemon_stopping'
  | 'test';

/** What an alert route sends for an event it was not told which: the failures. */
export const DEFAULT_ALERT_EVENTS: readonly AlertEventName[] = ['restart_failed', 'app_fatal', 'instance_exit', 'unhealthy', 'reload_failed'];

/** Every event an alert may be about. */
export const ALERT_EVENTS: readonly AlertEventName[] = [...DEFAULT_ALERT_EVENTS, 'restart_succeeded', 'daemon_started', 'daemon_stopping', 'test'];

/**
 * One alert, as every alerter receives it and the webhook posts it: the event, where and when, the
 * error, and the event's own fields (see README). `folded` counts the same (app, event) alerts
 * folded into this one during the route's interval.
 */
export interface Alert {
  event: AlertEventName;
  app: string | null;
  instance: string | null;
  /** ISO time. */
  at: string;
  error?: { code: string; message: string };
  folded?: number;
  [field: string]: unknown;
}

/** A running alerter: what `create` returns. The router calls `send` for each alert it routes here. */
export interface Alerter {
  /**
   * Deliver one alert. Resolve when delivered; reject when not (the router retries a bounded number
   * of times with backoff, then logs). Must honour `signal` (aborted at the route's timeout).
   */
  send(alert: Alert, signal: AbortSignal): Promise<void>;
  /** Release what `create` opened (daemon shutdown, a reload that dropped the route). */
  close?(): Promise<void>;
}

/** How a plugin contributes an alerter type (registered as `alerters.<key>`). */
export interface AlerterDefinition {
  description: string;
  /**
   * Validate and normalise the type's own options of an `alerts` entry at config load. Throw a
   * GvError (GV_ERR_CONFIG_ALERT) naming `details.option`; `pos` is where the entry is.
   */
  parse?(options: Record<string, unknown>, pos: SourcePosition): Record<string, unknown>;
  /** Build the sender of one configured route with its parsed options. Must not throw at send time. */
  create(options: Record<string, unknown>, log: HookContext['log']): Alerter;
}

/** A plugin: a plain, named object. */
export interface Plugin {
  /** Unique name, e.g. `gracevisor-alert-slack`; built-ins use `gracevisor:<part>`. */
  name: string;
  apiVersion: number;
  engines?: Record<string, EngineDefinition>;
  healthchecks?: Record<string, HealthcheckDefinition>;
  alerters?: Record<string, AlerterDefinition>;
  hooks?: { [K in HookName]?: HookEntry<K> };
}

/** The kinds of thing a registry holds. */
export type RegistryKind = 'engines' | 'healthchecks' | 'alerters';

/** One row of `gracevisorctl plugins list`. */
export interface RegistryEntry {
  /** Namespaced id: `engines.http`. */
  id: string;
  kind: RegistryKind;
  plugin: string;
  description: string;
  available: boolean;
  /** Why it is unavailable, or null. */
  reason: string | null;
}
