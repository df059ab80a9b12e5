/**
 * One app: its engine (the public listener), its instances, its state machine
 * ({@link APP_TRANSITIONS}), its failure policy (./restart-policy.ts) and its rollout (./rollout.ts).
 * Everything that changes which instances serve runs one task at a time through the app's queue, so
 * a restart, a crash replacement and an operator's stop never interleave; a second restart request
 * while one is pending joins it (coalesced).
 *
 * Restart (docs/architecture.md "Restart data flow"): for each serving instance in turn, spawn a new
 * one on a free port, wait until it is ready, `preSwitch`, `engine.setTargets` with the new one in
 * place of the old, drain the old (`drain_timeout`), stop it (`stop_signal`, SIGKILL after
 * `stop_timeout`). If the new instance fails, it is torn down, the old keeps serving,
 * `onRestartFailed` fires and the policy backs off.
 */
import { createHash } from 'node:crypto';
import { GvError } from '../errors.js';
import type { AppConfig } from '../config/model.js';
import type { Engine, EngineStats } from '../plugins/engine.js';
import type { ExitInfo, HealthcheckDefinition } from '../plugins/types.js';
import type { AppStatus, RestartResult } from './api.js';
import { AppLogs, type LogFilePool } from './app-logs.js';
import type { DaemonLog } from './daemon-log.js';
import { Instance, type AdoptRecord, type HookSink, type ProbeTiming } from './instance.js';
import { reopenOutput, type OutputMode } from './output-pipes.js';
import type { PortPool } from './port-pool.js';
import { isSameProcess, killGroup, type GroupUsage } from './proc.js';
import { healthcheckProbe } from './readiness.js';
import { FailurePolicy, type BackoffOptions } from './restart-policy.js';
import { Rollout, type StartReason } from './rollout.js';
import { checkUserSwitch, resolveUser, type ResolvedUser } from './spawn-spec.js';
import { stableJson } from './stable-json.js';
import { StateMachine, type TransitionTable } from './state-machine.js';
import type { InstanceRecord, StateFile } from './state-file.js';

/** What an App gets from its Supervisor. */
export interface AppContext {
  hooks: HookSink;
  ports: PortPool;
  state: StateFile;
  logFiles: LogFilePool;
  log: DaemonLog;
  /** Create the app's engine (not yet listening). */
  createEngine(config: AppConfig): Engine;
  /** The health check type registered as `healthchecks.<type>`. */
  healthcheck(type: string): HealthcheckDefinition | undefined;
  /** A daemon-wide unique instance id, `app#n`. */
  nextId(app: string): string;
  /** An id taken over from a previous daemon: later ones are numbered above it. */
  reserveId(id: string): void;
  /** Where instances' output goes (./output-pipes.ts). */
  output: OutputMode;
  backoff?: BackoffOptions;
  probeTiming?: ProbeTiming;
}

/** An app's state: what `status` shows, and `removed` once it is closed. */
export type AppState = AppStatus['state'] | 'removed';

/**
 * Every legal transition of an app. `starting`, `running` and `restarting` mean the app should run;
 * `stopping` and `stopped` that an operator stopped it; `fatal` that it gave up (nothing is started
 * until an operator acts); `removed` is final.
 */
export const APP_TRANSITIONS: TransitionTable<AppState> = {
  stopped: ['starting', 'restarting', 'stopping', 'fatal', 'removed'],
  starting: ['running', 'restarting', 'stopping', 'stopped', 'fatal', 'removed'],
  running: ['starting', 'restarting', 'stopping', 'stopped', 'fatal', 'removed'],
  restarting: ['running', 'starting', 'stopping', 'stopped', 'fatal', 'removed'],
  stopping: ['stopped', 'starting', 'restarting', 'fatal', 'removed'],
  fatal: ['starting', 'restarting', 'stopping', 'stopped', 'removed'],
  removed: [],
};

/** How long one readiness probe may take without a configured check (a TCP connect on the instance's host). */
const READINESS_TIMEOUT_MS = 1000;

const EMPTY_STATS: EngineStats = { connections: 0, requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, targets: [] };

/** One supervised app. */
export class App {
  #config: AppConfig;
  readonly #ctx: AppContext;
  readonly #engine: Engine;
  #logs: AppLogs;
  #user: ResolvedUser | null;
  #hc: HealthcheckDefinition | null;
  /** Readiness without a configured check: the registry's `healthchecks.tcp` (checked by prepareConfig). */
  readonly #tcp: HealthcheckDefinition | null;
  readonly #failures: FailurePolicy;
  readonly #rollout: Rollout;
  readonly #machine: StateMachine<AppState>;
  readonly #instances = new Set<Instance>();
  #serving: Instance[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #pendingRestart: Promise<RestartResult> | null = null;
  #restarts = 0;
  #lastError: string | null = null;
  /** The config fingerprint adopted instances were started with (state.json keeps it until they are replaced). */
  readonly #adoptedHash = new Map<string, string>();
  /** Handing over to a successor daemon (see {@link freeze}). */
  #frozen = false;
  /** What {@link freeze} handed over, kept for a {@link thaw}. */
  #frozenPartials = new Map<string, { out: Buffer | null; err: Buffer | null }>();
  /** Why the app cannot run at all (unknown user, user switch refused), or null. */
  #setupError: GvError | null = null;

  private constructor(config: AppConfig, ctx: AppContext, engine: Engine, user: ResolvedUser | null, hc: HealthcheckDefinition | null) {
    this.#config = config;
    this.#ctx = ctx;
    this.#engine = engine;
    this.#user = user;
    this.#hc = hc;
    this.#tcp = ctx.healthcheck('tcp') ?? null;
    this.#logs = new AppLogs(ctx.logFiles, config.logger);
    this.#failures = new FailurePolicy(config.max_retries, ctx.backoff);
    this.#machine = new StateMachine<AppState>(`app ${config.name}`, APP_TRANSITIONS, 'stopped');
    const app = this;
    this.#rollout = new Rollout({
      get name() { return app.name; },
      get config() { return app.#config; },
      engine,
      hooks: ctx.hooks,
      get serving() { return app.#serving; },
      wantsToRun: () => this.#wantsToRun(),
      setServing: (next, removed) => this.#setServing(next, removed),
      spawnReady: (reason) => this.#spawnReady(reason),
    });
  }

  /**
   * Check what the app needs (user, health check type, engine) and build it; binds nothing.
   * Rejects with GV_ERR_CONFIG_USER, GV_ERR_USER_SWITCH or GV_ERR_PLUGIN_NOT_FOUND.
   */
  static async create(config: AppConfig, ctx: AppContext, opts: { tolerateSetupError?: boolean } = {}): Promise<App> {
    let p: PreparedConfig;
    let setupError: GvError | null = null;
    try {
      p = await prepareConfig(config, ctx);
    } catch (err) {
      if (!opts.tolerateSetupError) throw err;
      // The daemon starts anyway: the app shows up as fatal with the reason, its listener answers 503.
      setupError = GvError.from(err);
      p = { config, user: null, hc: null };
    }
    const engine = ctx.createEngine(config);
    const app = new App(config, ctx, engine, p.user, p.hc);
    app.#setupError = setupError;
    return app;
  }

  /**
   * Check a new config for this app (user, health check type) without changing anything; hand the
   * result to {@link apply}. Rejects like {@link create}.
   */
  prepare(config: AppConfig): Promise<PreparedConfig> {
    return prepareConfig(config, this.#ctx);
  }

  /**
   * Use a prepared config for every instance started from now on (the caller restarts the app).
   * Returns the previous log sinks when the log files changed: close them once the old instances are gone.
   */
  apply(p: PreparedConfig): AppLogs | null {
    const oldLogger = this.#config.logger;
    this.#setupError = null;
    this.#config = p.config;
    this.#user = p.user;
    this.#hc = p.hc;
    this.#failures.configure(p.config.max_retries);
    if (JSON.stringify(oldLogger) === JSON.stringify(p.config.logger)) return null;
    const old = this.#logs;
    this.#logs = new AppLogs(this.#ctx.logFiles, p.config.logger);
    return old;
  }

  get name(): string {
    return this.#config.name;
  }

  get config(): AppConfig {
    return this.#config;
  }

  get engine(): Engine {
    return this.#engine;
  }

  /** The app's state (see {@link APP_TRANSITIONS}). */
  get state(): AppState {
    return this.#machine.state;
  }

  /** Instances the engine sends new work to. */
  get serving(): readonly Instance[] {
    return this.#serving;
  }

  /** Every instance whose process is not gone yet. */
  get instances(): readonly Instance[] {
    return [...this.#instances];
  }

  /** Where stdout and stderr go. */
  get logFiles(): { stdout: string; stderr: string } {
    return { stdout: this.#logs.stdoutFile, stderr: this.#logs.stderrFile };
  }

  /** Bind the public listener (GV_ERR_ENGINE_LISTEN). */
  async listen(): Promise<void> {
    await this.#engine.listen();
  }

  /**
   * What `status` shows. `usage` is the CPU and memory of every instance's process group, read from
   * /proc once for all apps (Supervisor.status); without it those fields are null.
   */
  status(usage?: ReadonlyMap<number, GroupUsage>): AppStatus {
    const addr = this.#safeAddress();
    const active = new Set(this.#serving);
    let stats = EMPTY_STATS;
    try {
      stats = this.#engine.stats();
    } catch {
      // An engine that is closed or not listening has no stats to give.
    }
    const state = this.#machine.state;
    return {
      name: this.name,
      address: `${addr.host}:${addr.port}`,
      engine: this.#config.proxy,
      state: state === 'removed' ? 'stopped' : state,
      instances: [...this.#instances].map((i) => {
        const u = i.pid !== null ? usage?.get(i.pid) : undefined;
        return {
          id: i.id,
          pid: i.pid,
          port: i.port,
          state: i.state ?? 'starting',
          sinceMs: i.sinceMs,
          active: active.has(i),
          startedAt: i.startedAt.toISOString(),
          uptimeMs: Date.now() - i.startedAt.getTime(),
          cpuSeconds: u ? Math.round(u.cpuSeconds * 100) / 100 : null,
          rssBytes: u ? u.rssBytes : null,
          probeFailures: i.probeFailures,
          lastError: i.lastError,
        };
      }),
      restarts: this.#restarts,
      failures: this.#failures.count,
      lastError: this.#lastError,
      stats,
    };
  }

  /**
   * Start `instances` instances (operator's start, or the daemon's). Resolves when they serve or the
   * attempt failed (then the policy retries in the background); clears a `fatal` state.
   */
  async start(): Promise<void> {
    this.#assertOpen();
    if (this.#setupError) {
      this.#failSetup();
      return;
    }
    if (!this.#wantsToRun()) this.#setState('starting');
    this.#failures.reset();
    this.#refreshHold();
    await this.#enqueue(() => this.#reconcileTask('start'));
  }

  /**
   * Take over `records`, instances a previous daemon of this app left running (an upgrade, or a
   * restart after a crash), then start like {@link start} whatever is still missing. Each one is
   * checked (still that process, ready) and then serves as if this daemon had started it; one that
   * is gone or not ready is stopped, and a new one takes its place. One whose output could not be
   * re-opened (it was started with anonymous pipes), or that runs an older config of the app, is
   * replaced by a hitless restart once everything serves. Records beyond `instances` are stopped.
   */
  async adopt(records: readonly InstanceRecord[], seed: (instance: string, stream: 'out' | 'err') => Buffer | null = () => null): Promise<{ id: string; outcome: 'adopted' | 'replaced' | 'gone' | 'stopped'; why?: string }[]> {
    this.#assertOpen();
    const out: { id: string; outcome: 'adopted' | 'replaced' | 'gone' | 'stopped'; why?: string }[] = [];
    if (this.#setupError) {
      for (const r of records) killGroupOf(r);
      await this.start();
      return records.map((r) => ({ id: r.id, outcome: 'stopped' as const, why: this.#setupError!.message }));
    }
    this.#setState('starting');
    this.#refreshHold();
    let replace = false;
    const keep = records.slice(0, this.#config.instances);
    for (const r of records.slice(this.#config.instances)) {
      killGroupOf(r);
      out.push({ id: r.id, outcome: 'stopped', why: 'more instances than `instances`' });
    }
    await Promise.all(keep.map(async (r) => {
      this.#ctx.ports.claim(r.port);
      this.#ctx.reserveId(r.id);
      const inst = this.#newInstance(r.id, r.port);
      if (r.config_hash !== undefined) this.#adoptedHash.set(r.id, r.config_hash);
      this.#instances.add(inst);
      try {
        const rec: AdoptRecord = { pid: r.pid, procStart: r.proc_start, startedAt: new Date(r.started_at), seed: { out: seed(r.id, 'out'), err: seed(r.id, 'err') } };
        const { logsRecovered } = await inst.adopt(rec);
        this.#setServing([...this.#serving, inst], null);
        const stale = r.config_hash !== undefined && r.config_hash !== configHash(this.#config);
        if (!logsRecovered || stale) replace = true;
        out.push({ id: r.id, outcome: logsRecovered && !stale ? 'adopted' : 'replaced', ...(!logsRecovered ? { why: 'its output pipes could not be re-opened' } : stale ? { why: 'it runs an older config of the app' } : {}) });
      } catch (err) {
        if (!inst.gone) void inst.kill();
        out.push({ id: r.id, outcome: 'gone', why: GvError.from(err).message });
      }
    }));
    // Top up (and report failures) exactly as a start does.
    await this.start();
    if (replace && this.#wantsToRun()) void this.restart({ reason: 'adopt', operator: false });
    return out;
  }

  /**
   * Hitless restart. Coalesced with one already pending unless `coalesce` is false (a reload with a
   * new config must not join a restart that runs the old one). Resolves with ok=false when the new
   * instance failed (the old ones keep serving and the policy retries); never rejects.
   */
  restart(opts: { reason?: string; coalesce?: boolean; operator?: boolean } = {}): Promise<RestartResult> {
    if (this.#machine.is('removed')) return Promise.resolve(this.#result(Date.now(), false, new GvError('GV_ERR_APP_STATE', `app ${this.name} is removed`)));
    if (this.#setupError) {
      this.#failSetup();
      return Promise.resolve(this.#result(Date.now(), false, this.#setupError));
    }
    if ((opts.coalesce ?? true) && this.#pendingRestart) {
      return this.#pendingRestart.then((r) => ({ ...r, coalesced: true }));
    }
    if (opts.operator ?? true) this.#failures.reset();
    this.#setState('restarting');
    this.#refreshHold();
    this.#failures.cancelRetry();
    const p = this.#enqueue(() => this.#restartTask(opts.reason ?? 'operator'));
    this.#pendingRestart = p;
    void p.finally(() => {
      if (this.#pendingRestart === p) this.#pendingRestart = null;
    });
    return p;
  }

  /** Graceful stop: no new work to any instance, drain each, stop it. The listener stays open. */
  async stop(): Promise<void> {
    if (this.#machine.is('removed')) return;
    this.#failures.cancelRetry();
    this.#setState('stopping');
    // An instance still starting is stopped now, not after its start: a start may wait up to
    // start_timeout (or for ever without one), and the task that runs it would hold the queue.
    for (const inst of this.#instances) if (inst.state === null || inst.state === 'starting') void inst.stop();
    await this.#enqueue(() => this.#rollout.retireAll([...this.#instances]));
    // A start or restart asked for meanwhile has moved the state on already.
    if (this.#machine.is('stopping')) this.#setState('stopped');
  }

  /** SIGKILL every instance now, no drain; a start or restart in progress fails. */
  async kill(): Promise<void> {
    if (this.#machine.is('removed')) return;
    this.#failures.cancelRetry();
    this.#setState('stopped');
    this.#setServing([], null);
    await Promise.all([...this.#instances].map((i) => i.kill()));
  }

  /**
   * Remove the app: close the listener (no new connections; in-flight work finishes on the instances,
   * up to `timeoutMs`, default drain_timeout), then drain and stop every instance, then the log files.
   */
  async close(timeoutMs?: number): Promise<void> {
    if (this.#machine.is('removed')) return;
    this.#failures.cancelRetry();
    if (this.#wantsToRun() || this.#machine.is('fatal')) this.#setState('stopping');
    // Stop accepting first, while the instances still serve what is in flight; then stop them.
    try {
      // Bounded: a client holding a connection open (a WebSocket) must not hold up a shutdown forever.
      await this.#engine.close(timeoutMs ?? this.#config.drain_timeout);
    } catch (err) {
      this.#ctx.log.warn('engine close failed', { app: this.name, error: (err as Error).message });
    }
    await this.stop();
    this.#setState('removed');
    this.#failures.close();
    await this.#logs.close();
  }

  /**
   * Hand over to a successor daemon, step one: nothing is started, restarted or retried from now
   * on; once the task running now (if any) is done, the instances' output is no longer read here
   * (returned: each pipe's unfinished line, by instance) and the log files are closed. The
   * instances keep running and the engine keeps serving.
   */
  async freeze(): Promise<Map<string, { out: Buffer | null; err: Buffer | null }>> {
    this.#frozen = true;
    this.#failures.cancelRetry();
    await this.#queue;
    const partials = this.#logs.detachAll();
    this.#frozenPartials = partials;
    await this.#logs.close();
    return partials;
  }

  /**
   * Undo {@link freeze} (the successor died before it took over): the log files are opened again and
   * every instance's output is read here again, from where this daemon stopped.
   */
  thaw(): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    this.#logs = new AppLogs(this.#ctx.logFiles, this.#config.logger);
    for (const inst of this.#instances) {
      const streams = reopenOutput(this.#ctx.output, inst.id);
      const p = this.#frozenPartials.get(inst.id);
      if (streams) this.#logs.attach(inst.id, streams.stdout, streams.stderr, { out: p?.out ?? null, err: p?.err ?? null });
    }
    this.#frozenPartials = new Map();
  }

  /**
   * Give up a takeover that failed: SIGKILL what this daemon started itself, leave what it adopted
   * to the daemon it came from, close the listener (the socket stays the keeper's).
   */
  async abandon(): Promise<void> {
    this.#frozen = true;
    this.#failures.cancelRetry();
    await Promise.all([...this.#instances].filter((i) => !i.adopted).map((i) => i.kill()));
    await this.#engine.close(0).catch(() => {});
  }

  /**
   * Step two, once the successor serves: stop accepting and let the open connections finish
   * (engine.retire, up to drain_timeout). The instances are the successor's: they are not stopped.
   */
  async retire(): Promise<void> {
    try {
      await (this.#engine.retire ? this.#engine.retire(this.#config.drain_timeout) : this.#engine.close(this.#config.drain_timeout));
    } catch (err) {
      this.#ctx.log.warn('engine retire failed', { app: this.name, error: (err as Error).message });
    }
  }

  // ---- tasks (run one at a time through the queue) ----

  async #restartTask(reason: string): Promise<RestartResult> {
    const t0 = Date.now();
    const hooks = this.#ctx.hooks;
    try {
      await hooks.runPre('preRestart', this.name, { reason });
    } catch (err) {
      this.#settle();
      return this.#result(t0, false, err);
    }
    try {
      await this.#rollout.restart();
    } catch (err) {
      this.#settle();
      this.#attemptFailed(err, 'restart');
      return this.#result(t0, false, err);
    }
    this.#settle();
    this.#restarts++;
    this.#lastError = null;
    const durationMs = Date.now() - t0;
    void hooks.emit('onRestartSucceeded', this.name, { durationMs, to: this.#serving.map((i) => i.info()) });
    return this.#result(t0, true);
  }

  /** Replace unhealthy instances, top up to `instances`, retire extras. */
  async #reconcileTask(reason: StartReason): Promise<void> {
    if (!this.#wantsToRun()) return;
    try {
      // A crashed or unhealthy instance replaced is a restart, and counts as one.
      if ((await this.#rollout.reconcile(reason)) > 0 && reason === 'replace') this.#restarts++;
    } catch (err) {
      this.#attemptFailed(err, 'reconcile');
    }
  }

  /** A restart ended: the app is running when an instance serves, else starting (a retry is on its way). */
  #settle(): void {
    if (this.#machine.is('restarting')) this.#setState(this.#serving.length > 0 ? 'running' : 'starting');
  }

  /** A new instance, serving (ready) but not yet given any work. */
  async #spawnReady(reason: StartReason): Promise<Instance> {
    if (!this.#wantsToRun()) throw new GvError('GV_ERR_APP_STATE', `app ${this.name} is stopped`);
    const cfg = this.#config;
    const port = await this.#ctx.ports.allocate(cfg.internal_host);
    const id = this.#ctx.nextId(this.name);
    try {
      await this.#ctx.hooks.runPre('preInstanceStart', this.name, { instance: { app: this.name, id, pid: null, port, state: 'starting' }, reason });
    } catch (err) {
      this.#ctx.ports.release(port);
      throw err;
    }
    const inst = this.#newInstance(id, port);
    this.#instances.add(inst);
    try {
      await inst.start();
    } catch (err) {
      if (!inst.gone) void inst.kill();
      throw err;
    }
    if (!this.#wantsToRun()) {
      await inst.stop();
      throw new GvError('GV_ERR_APP_STATE', `app ${this.name} was stopped while ${id} was starting`);
    }
    this.#failures.armStable(() => this.#serving.includes(inst) && inst.state === 'serving');
    return inst;
  }

  /** An Instance of this app's current config on `port` (not started). */
  #newInstance(id: string, port: number): Instance {
    const cfg = this.#config;
    const target = { id, host: cfg.internal_host, port };
    const check = this.#hc && cfg.healthcheck ? healthcheckProbe(this.#hc, target, cfg.healthcheck) : null;
    return new Instance({
      id,
      config: cfg,
      port,
      user: this.#user,
      hooks: this.#ctx.hooks,
      logs: this.#logs,
      readiness: check ?? this.#tcpReadiness(target),
      readinessTimeoutMs: cfg.healthcheck ? cfg.healthcheck.timeout : READINESS_TIMEOUT_MS,
      liveness: check,
      events: {
        spawned: (i) => this.#onSpawned(i),
        gone: (i, exit, expected) => this.#onGone(i, exit, expected),
        unhealthy: (i, detail) => this.#onUnhealthy(i, detail),
      },
      output: this.#ctx.output,
      ...(this.#ctx.probeTiming && { timing: this.#ctx.probeTiming }),
    });
  }

  /** Readiness without a configured check: `healthchecks.tcp`, like any check. */
  #tcpReadiness(target: { id: string; host: string; port: number }): (signal: AbortSignal) => Promise<{ ok: boolean; detail: string }> {
    return healthcheckProbe(this.#tcp!, target, { type: 'tcp', interval: READINESS_TIMEOUT_MS, timeout: READINESS_TIMEOUT_MS, unhealthy_threshold: 1 });
  }

  /** Tell the engine again whether to hold work while no instance serves (the app's wish changed). */
  #refreshHold(): void {
    this.#setServing(this.#serving, null);
  }

  /** Point the engine at `next`; `removed` is the instance that stopped getting work (for onSwitched). */
  #setServing(next: Instance[], removed: Instance | null): void {
    const before = this.#serving;
    this.#serving = next;
    try {
      // With no instance, hold new work only while one is on its way; a stopped or given-up app refuses at once.
      this.#engine.setTargets(next.map((i) => i.target), { hold: this.#wantsToRun() });
    } catch (err) {
      this.#ctx.log.error('engine setTargets failed', { app: this.name, error: (err as Error).message });
    }
    if (this.#machine.is('starting') && next.length > 0) this.#setState('running');
    else if (this.#machine.is('running') && next.length === 0) this.#setState('starting');
    const from = removed ? [removed] : before.filter((i) => !next.includes(i));
    if (from.length === 0 && next.every((i) => before.includes(i))) return;
    void this.#ctx.hooks.emit('onSwitched', this.name, { from: from.map((i) => i.info()), to: next.map((i) => i.info()) });
  }

  // ---- instance events ----

  #onSpawned(inst: Instance): void {
    this.#ctx.state.add({
      app: this.name,
      id: inst.id,
      pid: inst.pid!,
      pgid: inst.pid!,
      port: inst.port,
      started_at: inst.startedAt.toISOString(),
      proc_start: inst.procStart,
      config_hash: this.#adoptedHash.get(inst.id) ?? configHash(inst.config),
    });
  }

  #onGone(inst: Instance, exit: ExitInfo, expected: boolean): void {
    this.#instances.delete(inst);
    this.#adoptedHash.delete(inst.id);
    this.#ctx.ports.release(inst.port);
    this.#ctx.state.remove(inst.id);
    if (!this.#serving.includes(inst)) return;
    this.#setServing(this.#serving.filter((i) => i !== inst), inst);
    if (expected || this.#machine.is('stopping', 'stopped', 'removed')) return;
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    this.#lastError = `${inst.id} exited unexpectedly (${how})`;
    this.#ctx.log.warn('instance exited unexpectedly', { event: 'instance_exit', app: this.name, instance: inst.id, code: exit.code, signal: exit.signal });
    // A given-up app starts nothing until an operator acts.
    if (!this.#wantsToRun()) return;
    // A crash after a stable run is replaced at once; repeated crashes back off, and then give up.
    const crash = this.#failures.crashed(Date.now() - inst.startedAt.getTime());
    if (crash.replaceNow) {
      void this.#enqueue(() => this.#reconcileTask('replace'));
      return;
    }
    const err = new GvError('GV_ERR_START_FAILED', this.#lastError, { details: { instance: inst.id, code: exit.code, signal: exit.signal } });
    this.#failed(err, crash.verdict, 'reconcile');
  }

  #onUnhealthy(inst: Instance, detail: string): void {
    this.#lastError = `${inst.id} is unhealthy: ${detail}`;
    this.#ctx.log.warn('instance unhealthy, replacing it', { event: 'unhealthy', app: this.name, instance: inst.id, detail });
    if (this.#wantsToRun()) void this.#enqueue(() => this.#reconcileTask('replace'));
  }

  // ---- failures and backoff ----

  #attemptFailed(err: unknown, kind: 'restart' | 'reconcile'): void {
    const gv = GvError.from(err);
    this.#lastError = gv.message;
    // An operator stop/kill or a plugin's veto is not the app failing: no backoff, no retry.
    if (!this.#wantsToRun() || gv.code === 'GV_ERR_HOOK_VETO' || gv.code === 'GV_ERR_APP_STATE') {
      this.#ctx.log.info('attempt abandoned', { app: this.name, code: gv.code, error: gv.message });
      return;
    }
    this.#failed(gv, this.#failures.failed(), kind);
  }

  /** Report a failed attempt, then retry after the backoff or give up (`fatal`). */
  #failed(gv: GvError, verdict: { attempt: number; nextAttemptMs: number | null }, kind: 'restart' | 'reconcile'): void {
    const error = { code: gv.code, message: gv.message };
    const instance = typeof gv.details?.instance === 'string' ? gv.details.instance : null;
    const detail = failureDetail(gv);
    const stderr = instance ? this.#logs.stderrTail(instance) : [];
    this.#ctx.log.warn('start of a new instance failed', { event: 'restart_failed', app: this.name, code: gv.code, error: gv.message, attempt: verdict.attempt, nextAttemptMs: verdict.nextAttemptMs, ...(instance && { instance }) });
    void this.#ctx.hooks.emit('onRestartFailed', this.name, { error, attempt: verdict.attempt, nextAttemptMs: verdict.nextAttemptMs, instance, detail, stderr });
    if (verdict.nextAttemptMs === null) {
      this.#setState('fatal');
      this.#refreshHold();
      this.#ctx.log.error('app gave up after max_retries', { event: 'app_fatal', app: this.name, retries: verdict.attempt - 1 });
      void this.#ctx.hooks.emit('onAppFatal', this.name, { error, retries: verdict.attempt - 1 });
      return;
    }
    this.#failures.scheduleRetry(verdict.nextAttemptMs, () => {
      if (!this.#wantsToRun()) return;
      if (kind === 'restart') void this.restart({ reason: 'retry', operator: false });
      else void this.#enqueue(() => this.#reconcileTask('replace'));
    });
  }

  #failSetup(): void {
    const err = this.#setupError!;
    this.#setState('fatal');
    this.#refreshHold();
    this.#lastError = err.message;
    this.#ctx.log.error('app cannot be set up', { event: 'app_fatal', app: this.name, code: err.code, error: err.message });
    void this.#ctx.hooks.emit('onAppFatal', this.name, { error: { code: err.code, message: err.message }, retries: 0 });
  }

  // ---- helpers ----

  /** True while the app should be running: starting, running or restarting. */
  #wantsToRun(): boolean {
    return this.#machine.is('starting', 'running', 'restarting');
  }

  #setState(to: AppState): void {
    this.#machine.to(to);
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    // Frozen for a handover: the successor decides from now on (the supervisor refuses operators).
    if (this.#frozen) return Promise.resolve(undefined as T);
    const run = this.#queue.then(task, task);
    // The queue only orders tasks; a failure belongs to the caller of that task.
    this.#queue = run.catch(() => {});
    return run;
  }

  #result(t0: number, ok: boolean, err?: unknown): RestartResult {
    const r: RestartResult = { app: this.name, ok, serving: this.#serving.map((i) => i.id), durationMs: Date.now() - t0, coalesced: false };
    if (!ok && err !== undefined) {
      const gv = GvError.from(err);
      r.error = { code: gv.code, message: gv.message };
    }
    return r;
  }

  #safeAddress(): { host: string; port: number } {
    try {
      return this.#engine.address();
    } catch {
      return { host: this.#config.external_host, port: this.#config.external_port };
    }
  }

  #assertOpen(): void {
    if (this.#machine.is('removed')) throw new GvError('GV_ERR_APP_STATE', `app ${this.name} is removed`);
  }
}

/** A short fingerprint of an app's config: an adopted instance started with another one is replaced. */
export function configHash(config: AppConfig): string {
  return createHash('sha256').update(stableJson({ ...config, source: null })).digest('hex').slice(0, 16);
}

/** Stop a recorded process group that is not going to be adopted (SIGTERM; it was ours to stop). */
function killGroupOf(r: InstanceRecord): void {
  if (isSameProcess(r.pid, r.proc_start)) killGroup(r.pgid, 'SIGTERM');
}

/** What a failure says about the instance: its last probe's answer, or how it exited. */
function failureDetail(gv: GvError): string | null {
  const d = gv.details ?? {};
  if (typeof d.last === 'string') return d.last;
  if (d.signal) return `exited on signal ${String(d.signal)}`;
  if (typeof d.code === 'number') return `exited with code ${d.code}`;
  return null;
}

/** A config checked for an app: what {@link App.apply} takes. */
export interface PreparedConfig {
  config: AppConfig;
  user: ResolvedUser | null;
  hc: HealthcheckDefinition | null;
}

async function prepareConfig(config: AppConfig, ctx: AppContext): Promise<PreparedConfig> {
  let user: ResolvedUser | null = null;
  if (config.user) {
    user = await resolveUser(config.user.username);
    checkUserSwitch(user);
  }
  // Without a configured check, readiness is healthchecks.tcp: it must be there too.
  const type = config.healthcheck?.type ?? 'tcp';
  const def = ctx.healthcheck(type);
  if (!def) throw new GvError('GV_ERR_PLUGIN_NOT_FOUND', `app ${config.name}: no health check type ${type} is registered`, { details: { id: `healthchecks.${type}` } });
  return { config, user, hc: config.healthcheck ? def : null };
}
