/**
 * One app: its engine (the public listener), its instances and its restart policy. Everything that
 * changes which instances serve runs one task at a time through the app's queue, so a restart, a
 * crash replacement and an operator's stop never interleave; a second restart request while one is
 * pending joins it (coalesced).
 *
 * Restart (DESIGN.md): for each serving instance in turn — spawn a new one on a free port, wait until
 * it is ready, `preSwitch`, `engine.setTargets` with the new one in place of the old, drain the old
 * (`drain_timeout`), stop it (`stop_signal`, SIGKILL after `stop_timeout`). If the new instance fails,
 * it is torn down, the old keeps serving, `onRestartFailed` fires and the policy backs off.
 */
import { GvError } from '../errors.js';
import type { AppConfig } from '../config/model.js';
import type { Engine, EngineStats } from '../engines/engine.js';
import type { ExitInfo, HealthcheckDefinition } from '../plugins/types.js';
import type { AppStatus, RestartResult } from './api.js';
import { AppLogs, type LogFilePool } from './app-logs.js';
import type { DaemonLog } from './daemon-log.js';
import { Instance, type HookSink, type ProbeTiming } from './instance.js';
import type { PortPool } from './port-pool.js';
import { healthcheckProbe, tcpProbe } from './readiness.js';
import { RestartPolicy, type BackoffOptions } from './restart-policy.js';
import { checkUserSwitch, resolveUser, type ResolvedUser } from './spawn-spec.js';
import type { StateFile } from './state-file.js';

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
  backoff?: BackoffOptions;
  probeTiming?: ProbeTiming;
}

type Reason = 'start' | 'restart' | 'replace' | 'scale';

const EMPTY_STATS: EngineStats = { connections: 0, requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, targets: [] };

/** One supervised app. */
export class App {
  #config: AppConfig;
  readonly #ctx: AppContext;
  readonly #engine: Engine;
  #logs: AppLogs;
  #user: ResolvedUser | null;
  #hc: HealthcheckDefinition | null;
  #policy: RestartPolicy;
  readonly #instances = new Set<Instance>();
  #serving: Instance[] = [];
  #wanted: 'running' | 'stopped' = 'stopped';
  #fatal = false;
  #stopping = false;
  #restarting = false;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();
  #pendingRestart: Promise<RestartResult> | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #stableTimer: NodeJS.Timeout | null = null;
  #restarts = 0;
  #lastError: string | null = null;
  /** Why the app cannot run at all (unknown user, user switch refused), or null. */
  #setupError: GvError | null = null;

  private constructor(config: AppConfig, ctx: AppContext, engine: Engine, user: ResolvedUser | null, hc: HealthcheckDefinition | null) {
    this.#config = config;
    this.#ctx = ctx;
    this.#engine = engine;
    this.#user = user;
    this.#hc = hc;
    this.#logs = new AppLogs(ctx.logFiles, config.logger);
    this.#policy = new RestartPolicy(config.max_retries, ctx.backoff);
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
      setupError = toGvError(err);
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
    this.#policy = new RestartPolicy(p.config.max_retries, this.#ctx.backoff);
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

  /** What `status` shows. */
  status(): AppStatus {
    const addr = this.#safeAddress();
    const active = new Set(this.#serving);
    let stats = EMPTY_STATS;
    try {
      stats = this.#engine.stats();
    } catch {
      // An engine that is closed or not listening has no stats to give.
    }
    return {
      name: this.name,
      address: `${addr.host}:${addr.port}`,
      engine: this.#config.proxy,
      state: this.#appState(),
      instances: [...this.#instances].map((i) => ({
        id: i.id,
        pid: i.pid,
        port: i.port,
        state: i.state ?? 'starting',
        sinceMs: i.sinceMs,
        active: active.has(i),
        startedAt: i.startedAt.toISOString(),
        lastError: i.lastError,
      })),
      restarts: this.#restarts,
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
    this.#wanted = 'running';
    if (this.#setupError) {
      this.#failSetup();
      return;
    }
    this.#fatal = false;
    this.#policy.reset();
    this.#refreshHold();
    await this.#enqueue(() => this.#reconcileTask('start'));
  }

  /**
   * Hitless restart. Coalesced with one already pending unless `coalesce` is false (a reload with a
   * new config must not join a restart that runs the old one). Resolves with ok=false when the new
   * instance failed (the old ones keep serving and the policy retries); never rejects.
   */
  restart(opts: { reason?: string; coalesce?: boolean; operator?: boolean } = {}): Promise<RestartResult> {
    if (this.#closed) return Promise.resolve(this.#result(Date.now(), false, new GvError('GV_ERR_APP_STATE', `app ${this.name} is removed`)));
    if (this.#setupError) {
      this.#wanted = 'running';
      this.#failSetup();
      return Promise.resolve(this.#result(Date.now(), false, this.#setupError));
    }
    if ((opts.coalesce ?? true) && this.#pendingRestart) {
      return this.#pendingRestart.then((r) => ({ ...r, coalesced: true }));
    }
    if (opts.operator ?? true) {
      this.#fatal = false;
      this.#policy.reset();
    }
    this.#wanted = 'running';
    this.#refreshHold();
    this.#clearRetry();
    const p = this.#enqueue(() => this.#restartTask(opts.reason ?? 'operator'));
    this.#pendingRestart = p;
    void p.finally(() => {
      if (this.#pendingRestart === p) this.#pendingRestart = null;
    });
    return p;
  }

  /** Graceful stop: no new work to any instance, drain each, stop it. The listener stays open. */
  async stop(): Promise<void> {
    this.#wanted = 'stopped';
    this.#clearRetry();
    this.#stopping = true;
    try {
      await this.#enqueue(async () => {
        const all = [...this.#instances];
        this.#setServing([], null);
        await Promise.all(all.map((i) => this.#retire(i)));
      });
    } finally {
      this.#stopping = false;
    }
  }

  /** SIGKILL every instance now, no drain; a start or restart in progress fails. */
  async kill(): Promise<void> {
    this.#wanted = 'stopped';
    this.#clearRetry();
    this.#setServing([], null);
    await Promise.all([...this.#instances].map((i) => i.kill()));
  }

  /**
   * Remove the app: close the listener (no new connections; in-flight work finishes on the instances,
   * up to `timeoutMs`, default drain_timeout), then drain and stop every instance, then the log files.
   */
  async close(timeoutMs?: number): Promise<void> {
    if (this.#closed) return;
    this.#wanted = 'stopped';
    this.#clearRetry();
    // Stop accepting first, while the instances still serve what is in flight; then stop them.
    try {
      // Bounded: a client holding a connection open (a WebSocket) must not hold up a shutdown forever.
      await this.#engine.close(timeoutMs ?? this.#config.drain_timeout);
    } catch (err) {
      this.#ctx.log.warn('engine close failed', { app: this.name, error: (err as Error).message });
    }
    await this.stop();
    this.#closed = true;
    this.#clearRetry();
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    await this.#logs.close();
  }

  // ---- tasks (run one at a time through the queue) ----

  async #restartTask(reason: string): Promise<RestartResult> {
    const t0 = Date.now();
    const hooks = this.#ctx.hooks;
    try {
      await hooks.runPre('preRestart', this.name, { reason });
    } catch (err) {
      return this.#result(t0, false, err);
    }
    this.#restarting = true;
    try {
      for (const old of [...this.#serving]) {
        if (!this.#serving.includes(old)) continue; // crashed meanwhile
        if (this.#serving.length > this.#config.instances) {
          this.#setServing(this.#serving.filter((i) => i !== old), old);
          await this.#retire(old);
          continue;
        }
        await this.#replace(old, 'restart');
      }
      await this.#fill('restart');
    } catch (err) {
      this.#restarting = false;
      this.#attemptFailed(err, 'restart');
      return this.#result(t0, false, err);
    }
    this.#restarting = false;
    this.#restarts++;
    this.#lastError = null;
    const durationMs = Date.now() - t0;
    void hooks.emit('onRestartSucceeded', this.name, { durationMs, to: this.#serving.map((i) => i.info()) });
    return this.#result(t0, true);
  }

  /** Replace unhealthy instances, top up to `instances`, retire extras. */
  async #reconcileTask(reason: Reason): Promise<void> {
    if (this.#wanted !== 'running' || this.#closed) return;
    try {
      for (const inst of [...this.#serving]) {
        if (inst.state === 'unhealthy' && this.#serving.includes(inst)) await this.#replace(inst, 'replace');
      }
      await this.#fill(reason);
      while (this.#serving.length > this.#config.instances) {
        const extra = this.#serving[0]!;
        this.#setServing(this.#serving.slice(1), extra);
        await this.#retire(extra);
      }
    } catch (err) {
      this.#attemptFailed(err, 'reconcile');
    }
  }

  /** Start instances until `instances` serve (in parallel); throws the first failure. */
  async #fill(reason: Reason): Promise<void> {
    const missing = this.#config.instances - this.#serving.length;
    if (missing <= 0 || this.#wanted !== 'running') return;
    const results = await Promise.allSettled(Array.from({ length: missing }, async () => {
      const fresh = await this.#spawnReady(reason);
      await this.#preSwitch([], fresh);
      this.#setServing([...this.#serving, fresh], null);
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** One step of a rolling restart: a ready new instance takes `old`'s place, then `old` drains and stops. */
  async #replace(old: Instance, reason: Reason): Promise<void> {
    const fresh = await this.#spawnReady(reason);
    await this.#preSwitch([old], fresh);
    if (this.#wanted !== 'running') {
      await fresh.stop();
      throw new GvError('GV_ERR_APP_STATE', `app ${this.name} was stopped during the restart`);
    }
    const rest = this.#serving.filter((i) => i !== old);
    this.#setServing([...rest, fresh], this.#serving.includes(old) ? old : null);
    await this.#retire(old);
  }

  async #preSwitch(from: Instance[], to: Instance): Promise<void> {
    try {
      await this.#ctx.hooks.runPre('preSwitch', this.name, { from: from.map((i) => i.info()), to: to.info() });
    } catch (err) {
      await to.stop();
      throw err;
    }
  }

  /** A new instance, serving (ready) but not yet given any work. */
  async #spawnReady(reason: Reason): Promise<Instance> {
    if (this.#wanted !== 'running') throw new GvError('GV_ERR_APP_STATE', `app ${this.name} is stopped`);
    const cfg = this.#config;
    const port = await this.#ctx.ports.allocate(cfg.internal_host);
    const id = this.#ctx.nextId(this.name);
    try {
      await this.#ctx.hooks.runPre('preInstanceStart', this.name, { instance: { app: this.name, id, pid: null, port, state: 'starting' }, reason });
    } catch (err) {
      this.#ctx.ports.release(port);
      throw err;
    }
    const target = { id, host: cfg.internal_host, port };
    const inst = new Instance({
      id,
      config: cfg,
      port,
      user: this.#user,
      hooks: this.#ctx.hooks,
      logs: this.#logs,
      readiness: this.#hc && cfg.healthcheck ? healthcheckProbe(this.#hc, target, cfg.healthcheck) : tcpProbe(cfg.internal_host, port),
      readinessTimeoutMs: cfg.healthcheck ? cfg.healthcheck.timeout : 1000,
      liveness: this.#hc && cfg.healthcheck ? healthcheckProbe(this.#hc, target, cfg.healthcheck) : null,
      events: {
        spawned: (i) => this.#onSpawned(i),
        gone: (i, exit, expected) => this.#onGone(i, exit, expected),
        unhealthy: (i, detail) => this.#onUnhealthy(i, detail),
      },
      ...(this.#ctx.probeTiming && { timing: this.#ctx.probeTiming }),
    });
    this.#instances.add(inst);
    try {
      await inst.start();
    } catch (err) {
      if (!inst.gone) void inst.kill();
      throw err;
    }
    if (this.#wanted !== 'running') {
      await inst.stop();
      throw new GvError('GV_ERR_APP_STATE', `app ${this.name} was stopped while ${id} was starting`);
    }
    this.#armStable(inst);
    return inst;
  }

  /** Drain `inst` through the engine, then stop its process. */
  async #retire(inst: Instance): Promise<void> {
    if (inst.gone) return;
    if (inst.state === 'serving' || inst.state === 'unhealthy' || inst.state === 'draining') {
      inst.markDraining();
      const r = await this.#engine.drain(inst.target, this.#config.drain_timeout);
      void this.#ctx.hooks.emit('onInstanceDrained', this.name, { instance: inst.info(), drained: r.drained, open: r.open, elapsedMs: r.elapsedMs });
    }
    await inst.stop();
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
      this.#engine.setTargets(next.map((i) => i.target), { hold: this.#wanted === 'running' && !this.#fatal });
    } catch (err) {
      this.#ctx.log.error('engine setTargets failed', { app: this.name, error: (err as Error).message });
    }
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
    });
  }

  #onGone(inst: Instance, exit: ExitInfo, expected: boolean): void {
    this.#instances.delete(inst);
    this.#ctx.ports.release(inst.port);
    this.#ctx.state.remove(inst.id);
    if (!this.#serving.includes(inst)) return;
    this.#setServing(this.#serving.filter((i) => i !== inst), inst);
    if (expected || this.#wanted !== 'running' || this.#closed) return;
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    this.#lastError = `${inst.id} exited unexpectedly (${how})`;
    this.#ctx.log.warn('instance exited unexpectedly', { app: this.name, instance: inst.id, code: exit.code, signal: exit.signal });
    // A crash after a stable run is replaced at once; repeated crashes back off, and then give up.
    const upMs = Date.now() - inst.startedAt.getTime();
    if (upMs >= this.#policy.stableMs) this.#policy.reset();
    const err = new GvError('GV_ERR_START_FAILED', this.#lastError, { details: { instance: inst.id, code: exit.code, signal: exit.signal } });
    if (this.#policy.failures === 0) {
      this.#policy.fail();
      void this.#enqueue(() => this.#reconcileTask('replace'));
    } else {
      this.#attemptFailed(err, 'reconcile');
    }
  }

  #onUnhealthy(inst: Instance, detail: string): void {
    this.#lastError = `${inst.id} is unhealthy: ${detail}`;
    this.#ctx.log.warn('instance unhealthy, replacing it', { app: this.name, instance: inst.id, detail });
    if (this.#wanted === 'running') void this.#enqueue(() => this.#reconcileTask('replace'));
  }

  // ---- failures and backoff ----

  #attemptFailed(err: unknown, kind: 'restart' | 'reconcile'): void {
    const gv = toGvError(err);
    this.#lastError = gv.message;
    // An operator stop/kill or a plugin's veto is not the app failing: no backoff, no retry.
    if (this.#wanted !== 'running' || this.#closed || gv.code === 'GV_ERR_HOOK_VETO' || gv.code === 'GV_ERR_APP_STATE') {
      this.#ctx.log.info('attempt abandoned', { app: this.name, code: gv.code, error: gv.message });
      return;
    }
    const verdict = this.#policy.fail();
    const error = { code: gv.code, message: gv.message };
    this.#ctx.log.warn('start of a new instance failed', { app: this.name, code: gv.code, error: gv.message, attempt: verdict.attempt, nextAttemptMs: verdict.nextAttemptMs });
    void this.#ctx.hooks.emit('onRestartFailed', this.name, { error, attempt: verdict.attempt, nextAttemptMs: verdict.nextAttemptMs });
    if (verdict.nextAttemptMs === null) {
      this.#fatal = true;
      this.#refreshHold();
      this.#ctx.log.error('app gave up after max_retries', { app: this.name, retries: verdict.attempt - 1 });
      void this.#ctx.hooks.emit('onAppFatal', this.name, { error, retries: verdict.attempt - 1 });
      return;
    }
    this.#clearRetry();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#wanted !== 'running' || this.#fatal || this.#closed) return;
      if (kind === 'restart') void this.restart({ reason: 'retry', operator: false });
      else void this.#enqueue(() => this.#reconcileTask('replace'));
    }, verdict.nextAttemptMs);
  }

  #failSetup(): void {
    const err = this.#setupError!;
    this.#fatal = true;
    this.#refreshHold();
    this.#lastError = err.message;
    this.#ctx.log.error('app cannot be set up', { app: this.name, code: err.code, error: err.message });
    void this.#ctx.hooks.emit('onAppFatal', this.name, { error: { code: err.code, message: err.message }, retries: 0 });
  }

  #armStable(inst: Instance): void {
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#stableTimer = null;
      if (this.#serving.includes(inst) && inst.state === 'serving') this.#policy.reset();
    }, this.#policy.stableMs);
    this.#stableTimer.unref();
  }

  #clearRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  // ---- helpers ----

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    // The queue only orders tasks; a failure belongs to the caller of that task.
    this.#queue = run.catch(() => {});
    return run;
  }

  #appState(): AppStatus['state'] {
    if (this.#fatal) return 'fatal';
    if (this.#stopping) return 'stopping';
    if (this.#wanted === 'stopped') return 'stopped';
    if (this.#restarting) return 'restarting';
    if (this.#serving.length > 0) return 'running';
    return 'starting';
  }

  #result(t0: number, ok: boolean, err?: unknown): RestartResult {
    const r: RestartResult = { app: this.name, ok, serving: this.#serving.map((i) => i.id), durationMs: Date.now() - t0, coalesced: false };
    if (!ok && err !== undefined) {
      const gv = toGvError(err);
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
    if (this.#closed) throw new GvError('GV_ERR_APP_STATE', `app ${this.name} is removed`);
  }
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
  let hc: HealthcheckDefinition | null = null;
  if (config.healthcheck) {
    hc = ctx.healthcheck(config.healthcheck.type) ?? null;
    if (!hc) throw new GvError('GV_ERR_PLUGIN_NOT_FOUND', `app ${config.name}: no health check type ${config.healthcheck.type} is registered`, { details: { id: `healthchecks.${config.healthcheck.type}` } });
  }
  return { config, user, hc };
}

function toGvError(err: unknown): GvError {
  if (err instanceof GvError) return err;
  return new GvError('GV_ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}
