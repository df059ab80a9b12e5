/**
 * One instance of an app: a child process leading its own process group, and its state machine
 * (docs/architecture.md, "Instance states"; the table is {@link INSTANCE_TRANSITIONS}):
 *
 *   starting → serving → draining → stopping → stopped | killed
 *   starting → failed (exited before ready) | timed_out (not ready within start_timeout)
 *   serving  → exited (crashed) | unhealthy (liveness check failed; then draining → …)
 *
 * Every transition emits `onInstanceState` and the hook specific to it. The instance decides when it
 * is ready and when it is gone; the App decides when it drains and stops (it owns the engine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { GvError } from '../errors.js';
import type { AppConfig } from '../config/model.js';
import type { Target } from '../plugins/engine.js';
import { StateMachine, type TransitionTable } from './state-machine.js';
import type { Hooks } from '../plugins/hooks.js';
import type { ExitInfo, InstanceInfo, InstanceState } from '../plugins/types.js';
import type { AppLogs } from './app-logs.js';
import { isSameProcess, killGroup, procStartTime } from './proc.js';
import { probeOnce, type Probe } from './readiness.js';
import { planOutput, removeFifos, reopenOutput, type OutputMode } from './output-pipes.js';
import { buildSpawnSpec, type ResolvedUser } from './spawn-spec.js';

/** The hook runner as an instance uses it. */
export type HookSink = Pick<Hooks, 'emit' | 'runPre'>;

/** How fast readiness is probed: `minMs` first, ×`factor` each time, up to `maxMs`. */
export interface ProbeTiming {
  minMs: number;
  maxMs: number;
  factor: number;
}

/** Default readiness pacing: quick at first so a switch follows readiness by a few ms. */
export const DEFAULT_PROBE_TIMING: ProbeTiming = { minMs: 5, maxMs: 20, factor: 1.5 };

/** What the App hears from its instances. */
export interface InstanceEvents {
  /** The process was spawned (pid known). */
  spawned(inst: Instance): void;
  /** The process is gone; `expected` is false for a crash. */
  gone(inst: Instance, exit: ExitInfo, expected: boolean): void;
  /** The liveness check failed `unhealthy_threshold` times in a row. */
  unhealthy(inst: Instance, detail: string): void;
}

/** What an instance needs to run. */
export interface InstanceOptions {
  id: string;
  config: AppConfig;
  port: number;
  user: ResolvedUser | null;
  hooks: HookSink;
  logs: AppLogs;
  /** Readiness probe (TCP connect or the health check). */
  readiness: Probe;
  /** How long one readiness probe may take, ms. */
  readinessTimeoutMs: number;
  /** Liveness probe while serving, or null without a health check. */
  liveness: Probe | null;
  events: InstanceEvents;
  timing?: ProbeTiming;
  /** Where stdout and stderr go (./output-pipes.ts); anonymous pipes by default. */
  output?: OutputMode;
}

/** A running process a previous daemon started, to be taken over (see {@link Instance.adopt}). */
export interface AdoptRecord {
  pid: number;
  /** /proc start time recorded at spawn, to be sure the pid is still that process. */
  procStart: string | null;
  startedAt: Date;
  /** The unfinished last line of each stream the previous daemon had read (it is written first). */
  seed?: { out?: Buffer | null; err?: Buffer | null };
}

/** How often an adopted process (not this daemon's child: no exit event) is looked at, ms. */
const ADOPTED_POLL_MS = 200;

/** An instance's state, with `new` before its process is spawned. */
type Phase = InstanceState | 'new';

/**
 * Every legal transition of an instance. `stopping` can be reached from any live state: an
 * operator's stop or kill, a shutdown, or a start abandoned because the app was stopped.
 */
export const INSTANCE_TRANSITIONS: TransitionTable<Phase> = {
  new: ['starting', 'failed'],
  starting: ['serving', 'failed', 'timed_out', 'stopping'],
  serving: ['draining', 'unhealthy', 'exited', 'stopping'],
  unhealthy: ['draining', 'exited', 'stopping'],
  draining: ['stopping', 'exited'],
  stopping: ['stopped', 'killed'],
  stopped: [],
  killed: [],
  failed: [],
  timed_out: [],
  exited: [],
};

const TERMINAL: ReadonlySet<Phase> = new Set(['stopped', 'killed', 'failed', 'timed_out', 'exited']);

/** One child process of an app. */
export class Instance {
  readonly id: string;
  readonly app: string;
  readonly port: number;
  readonly host: string;
  readonly config: AppConfig;
  startedAt = new Date();
  readonly #machine: StateMachine<Phase>;
  #lastError: string | null = null;
  #probeFailures = 0;
  #child: ChildProcess | null = null;
  #pid: number | null = null;
  #procStart: string | null = null;
  #exit: ExitInfo | null = null;
  #sigkilled = false;
  #stopRequested = false;
  #killTimer: NodeJS.Timeout | null = null;
  #liveTimer: NodeJS.Timeout | null = null;
  /** Watches an adopted process, which is not this daemon's child. */
  #pollTimer: NodeJS.Timeout | null = null;
  /** True for a process a previous daemon started. */
  #adopted = false;
  /** Ends the readiness loop's current sleep (the process exited). */
  #wake: (() => void) | null = null;
  readonly #abort = new AbortController();
  readonly #opts: InstanceOptions;
  readonly #exited: Promise<ExitInfo>;
  #resolveExited!: (e: ExitInfo) => void;

  constructor(opts: InstanceOptions) {
    this.#opts = opts;
    this.id = opts.id;
    this.app = opts.config.name;
    this.port = opts.port;
    this.host = opts.config.internal_host;
    this.config = opts.config;
    this.#machine = new StateMachine<Phase>(`instance ${opts.id}`, INSTANCE_TRANSITIONS, 'new');
    this.#exited = new Promise((r) => (this.#resolveExited = r));
  }

  /** Current state; null before start(). */
  get state(): InstanceState | null {
    const s = this.#machine.state;
    return s === 'new' ? null : s;
  }

  /** ms since the last state change. */
  get sinceMs(): number {
    return this.#machine.sinceMs;
  }

  get pid(): number | null {
    return this.#pid;
  }

  /** /proc start time of the pid (see proc.ts), for the state file. */
  get procStart(): string | null {
    return this.#procStart;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** Liveness probes that failed so far. */
  get probeFailures(): number {
    return this.#probeFailures;
  }

  /** True for a process a previous daemon started (see {@link adopt}). */
  get adopted(): boolean {
    return this.#adopted;
  }

  /** True once the process is gone. */
  get gone(): boolean {
    return this.#exit !== null;
  }

  /** Resolves with how the process ended (never rejects). */
  get exited(): Promise<ExitInfo> {
    return this.#exited;
  }

  /** The engine's view of this instance. */
  get target(): Target {
    return { id: this.id, host: this.host, port: this.port };
  }

  /** What hooks are told about this instance. */
  info(): InstanceInfo {
    return { app: this.app, id: this.id, pid: this.#pid, port: this.port, state: this.state ?? 'starting' };
  }

  /**
   * Spawn the process and wait until it is ready (state `serving`). Rejects with GV_ERR_SPAWN,
   * GV_ERR_START_FAILED (exited first), GV_ERR_START_TIMEOUT or GV_ERR_HEALTHCHECK_FAILED (not ready
   * within start_timeout; the process group is then SIGKILLed), or GV_ERR_APP_STATE (stopped or killed
   * while starting). On rejection the instance is on its way out; await `exited` to see it gone.
   */
  async start(): Promise<void> {
    const t0 = Date.now();
    const cfg = this.config;
    const output = this.#opts.output ?? { kind: 'pipe' as const };
    let child: ChildProcess;
    let plan: ReturnType<typeof planOutput> | null = null;
    try {
      const spec = buildSpawnSpec(cfg, this.port, this.#opts.user);
      plan = planOutput(output, this.id);
      child = spawn(spec.file, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        uid: spec.uid,
        gid: spec.gid,
        detached: true, // its own process group: signals go to -pid and reach the app's children
        stdio: plan.stdio,
      });
    } catch (err) {
      plan?.afterSpawn();
      removeFifos(output, this.id);
      const gv = err instanceof GvError ? err : new GvError('GV_ERR_SPAWN', `cannot start ${cfg.command}: ${(err as Error).message}`, { cause: err });
      this.#failSpawn(gv);
      throw gv;
    }
    plan.afterSpawn();
    this.#child = child;
    if (child.pid === undefined) {
      // spawn() reports ENOENT/EACCES through 'error' without a pid.
      const err = await new Promise<Error>((r) => child.once('error', r));
      removeFifos(output, this.id);
      const gv = new GvError('GV_ERR_SPAWN', `cannot start ${cfg.command}: ${err.message}`, { cause: err, details: { command: cfg.command } });
      this.#failSpawn(gv);
      throw gv;
    }
    this.#pid = child.pid;
    this.#procStart = procStartTime(child.pid);
    child.on('error', () => {}); // errors after spawn (e.g. a failed kill) surface through 'exit'
    const streams = plan.streams(child);
    this.#opts.logs.attach(this.id, streams.stdout, streams.stderr);
    child.once('exit', (code, signal) => this.#onExit({ code, signal }));
    this.#opts.events.spawned(this);
    this.#setState('starting');

    await this.#waitReady(t0);
    this.#setState('serving', { readyMs: Date.now() - t0 });
    this.#startLiveness();
  }

  /**
   * Take over a process a previous daemon started (an upgrade, or a restart after a crash): its
   * output is read from its FIFOs again, it is watched (it is not this daemon's child: its exit is
   * seen by looking, every 200 ms and at the end of its output), and it serves once its readiness
   * check passes, exactly as a new instance would. Rejects like {@link start} (GV_ERR_START_FAILED
   * when the process is gone); `logsRecovered` is false when its output could not be re-opened (it
   * was started with anonymous pipes): the caller replaces it.
   */
  async adopt(rec: AdoptRecord): Promise<{ logsRecovered: boolean }> {
    const t0 = Date.now();
    this.#adopted = true;
    this.startedAt = rec.startedAt;
    this.#pid = rec.pid;
    this.#procStart = rec.procStart;
    const streams = reopenOutput(this.#opts.output ?? { kind: 'pipe' }, this.id);
    if (streams) {
      this.#opts.logs.attach(this.id, streams.stdout, streams.stderr, rec.seed ?? {});
      // The end of its output is the first sign it is gone.
      streams.stdout.once('end', () => this.#checkAdopted());
    }
    this.#opts.events.spawned(this);
    this.#setState('starting');
    this.#pollTimer = setInterval(() => this.#checkAdopted(), ADOPTED_POLL_MS);
    this.#pollTimer.unref();
    this.#checkAdopted();
    await this.#waitReady(t0);
    this.#setState('serving', { readyMs: Date.now() - t0 });
    this.#startLiveness();
    return { logsRecovered: streams !== null };
  }

  /** An adopted process that is no longer there has exited (how, only its parent could know). */
  #checkAdopted(): void {
    if (this.#exit || this.#pid === null) return;
    if (isSameProcess(this.#pid, this.#procStart)) return;
    this.#onExit({ code: null, signal: null });
  }

  /** The App stopped sending new work here (`inFlight` is still open): state `draining`. */
  markDraining(inFlight = 0): void {
    if (this.#machine.is('serving', 'unhealthy')) this.#setState('draining', { inFlight });
  }

  /**
   * Send `stop_signal` to the process group, SIGKILL it after `stop_timeout` (none: wait), and
   * resolve once the process is gone.
   */
  async stop(): Promise<ExitInfo> {
    if (this.#exit) return this.#exit;
    if (!this.#stopRequested) {
      this.#stopRequested = true;
      this.#abort.abort();
      this.#stopLiveness();
      const signal = `SIG${this.config.stop_signal}` as NodeJS.Signals;
      // Not yet spawned (a spawn failing right now): nothing to signal; it ends as `failed`.
      if (!TERMINAL.has(this.#machine.state) && !this.#machine.is('new')) this.#setState('stopping', { signal: this.config.stop_signal });
      if (this.#pid !== null) killGroup(this.#pid, signal);
      const timeout = this.config.stop_timeout;
      if (timeout !== null) {
        this.#killTimer = setTimeout(() => this.#sigkill(), timeout);
      }
    }
    return this.#exited;
  }

  /** SIGKILL the process group now, without drain or grace; resolves once the process is gone. */
  async kill(): Promise<ExitInfo> {
    if (this.#exit) return this.#exit;
    this.#abort.abort();
    this.#stopLiveness();
    if (!this.#stopRequested) {
      this.#stopRequested = true;
      if (!TERMINAL.has(this.#machine.state) && !this.#machine.is('new')) this.#setState('stopping', { signal: 'KILL' });
    }
    this.#sigkill();
    return this.#exited;
  }

  #sigkill(): void {
    if (this.#exit || this.#pid === null) return;
    this.#sigkilled = true;
    killGroup(this.#pid, 'SIGKILL');
  }

  async #waitReady(t0: number): Promise<void> {
    const cfg = this.config;
    const timing = this.#opts.timing ?? DEFAULT_PROBE_TIMING;
    const deadline = cfg.start_timeout === null ? Infinity : t0 + cfg.start_timeout;
    let delay = timing.minMs;
    let last = 'not probed yet';
    for (;;) {
      if (this.#exit) throw this.#startExitError();
      if (this.#abort.signal.aborted) throw new GvError('GV_ERR_APP_STATE', `${this.id} was stopped while starting`);
      const left = deadline - Date.now();
      if (left <= 0) break;
      const r = await probeOnce(this.#opts.readiness, Math.min(left, this.#opts.readinessTimeoutMs), this.#abort.signal);
      if (this.#exit) throw this.#startExitError();
      if (this.#abort.signal.aborted) throw new GvError('GV_ERR_APP_STATE', `${this.id} was stopped while starting`);
      if (r.ok) return;
      last = r.detail;
      const wait = Math.min(delay, Math.max(0, deadline - Date.now()));
      delay = Math.min(timing.maxMs, delay * timing.factor);
      await this.#sleepUnlessExit(wait);
    }
    const err = cfg.healthcheck
      ? new GvError('GV_ERR_HEALTHCHECK_FAILED', `${this.id} did not pass its ${cfg.healthcheck.type} check within start_timeout ${cfg.start_timeout} ms (last: ${last})`, { details: { instance: this.id, last } })
      : new GvError('GV_ERR_START_TIMEOUT', `${this.id} did not accept connections on port ${this.port} within start_timeout ${cfg.start_timeout} ms (last: ${last})`, { details: { instance: this.id, last } });
    this.#setState('timed_out', { error: err.message });
    this.#stopRequested = true;
    this.#sigkill();
    throw err;
  }

  #startExitError(): GvError {
    const e = this.#exit!;
    return new GvError('GV_ERR_START_FAILED', `${this.id} exited before it was ready (${e.signal ? `signal ${e.signal}` : `code ${e.code}`})`, {
      details: { instance: this.id, code: e.code, signal: e.signal },
    });
  }

  #sleepUnlessExit(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.#abort.signal.removeEventListener('abort', done);
        if (this.#wake === done) this.#wake = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#abort.signal.addEventListener('abort', done, { once: true });
      // One waker, not a callback per sleep on `exited`: a start that never ends must not pile them up.
      this.#wake = done;
    });
  }

  #startLiveness(): void {
    const probe = this.#opts.liveness;
    const check = this.config.healthcheck;
    if (!probe || !check) return;
    let failures = 0;
    let healthy = true;
    const tick = async (): Promise<void> => {
      this.#liveTimer = null;
      if (!this.#machine.is('serving')) return;
      const r = await probeOnce(probe, check.timeout, this.#abort.signal);
      if (!this.#machine.is('serving')) return;
      if (r.ok) {
        failures = 0;
        if (!healthy) {
          healthy = true;
          void this.#opts.hooks.emit('onHealthChange', this.app, { instance: this.info(), healthy: true, detail: r.detail });
        }
      } else {
        failures++;
        this.#probeFailures++;
        if (healthy) {
          healthy = false;
          void this.#opts.hooks.emit('onHealthChange', this.app, { instance: this.info(), healthy: false, detail: r.detail });
        }
        if (failures >= check.unhealthy_threshold) {
          this.#setState('unhealthy', { error: `liveness check failed ${failures} times: ${r.detail}` });
          this.#opts.events.unhealthy(this, r.detail);
          return;
        }
      }
      this.#liveTimer = setTimeout(() => void tick(), check.interval);
    };
    this.#liveTimer = setTimeout(() => void tick(), check.interval);
  }

  #stopLiveness(): void {
    if (this.#liveTimer) clearTimeout(this.#liveTimer);
    this.#liveTimer = null;
  }

  #failSpawn(err: GvError): void {
    this.#lastError = err.message;
    this.#setState('failed', { error: err.message });
    this.#exit = { code: null, signal: null };
    this.#resolveExited(this.#exit);
    this.#opts.events.gone(this, this.#exit, false);
  }

  #onExit(exit: ExitInfo): void {
    if (this.#exit) return;
    this.#exit = exit;
    this.#stopLiveness();
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#pollTimer = null;
    removeFifos(this.#opts.output ?? { kind: 'pipe' }, this.id);
    if (this.#killTimer) clearTimeout(this.#killTimer);
    this.#killTimer = null;
    const from = this.#machine.state;
    let expected = this.#stopRequested;
    const how = exit.signal ? `signal ${exit.signal}` : exit.code !== null ? `code ${exit.code}` : this.#adopted ? 'how: it was adopted, so not this daemon\'s child' : 'code null';
    switch (from) {
      case 'starting':
        this.#setState('failed', { error: `exited before it was ready (${how})` });
        expected = false;
        break;
      case 'serving':
      case 'unhealthy':
      case 'draining':
        this.#setState('exited', { error: `exited unexpectedly (${how})` });
        break;
      case 'stopping':
        this.#setState(this.#sigkilled ? 'killed' : 'stopped');
        break;
      default:
        break; // timed_out / failed: already terminal
    }
    // Sweep what the app's group left behind (children that outlived their parent).
    if (this.#pid !== null) killGroup(this.#pid, 'SIGKILL');
    void this.#opts.hooks.emit('onInstanceExit', this.app, { instance: this.info(), exit, expected });
    this.#resolveExited(exit);
    this.#wake?.();
    this.#opts.events.gone(this, exit, expected);
  }

  /** One transition of {@link INSTANCE_TRANSITIONS} (an illegal one throws GV_ERR_INTERNAL) and its hooks. */
  #setState(to: InstanceState, extra: { error?: string; signal?: string; readyMs?: number; inFlight?: number } = {}): void {
    const left = this.#machine.to(to);
    if (left === null) return;
    const from = left === 'new' ? null : left;
    if (extra.error) this.#lastError = extra.error;
    const hooks = this.#opts.hooks;
    const instance = this.info();
    void hooks.emit('onInstanceState', this.app, { instance, from, to, ...(extra.error !== undefined && { error: extra.error }) });
    switch (to) {
      case 'starting':
        void hooks.emit('onInstanceStarting', this.app, { instance });
        break;
      case 'serving':
        void hooks.emit('onInstanceReady', this.app, { instance, readyMs: extra.readyMs ?? 0 });
        break;
      case 'draining':
        void hooks.emit('onInstanceDraining', this.app, { instance, inFlight: extra.inFlight ?? 0 });
        break;
      case 'stopping':
        void hooks.emit('onInstanceStopping', this.app, { instance, signal: extra.signal ?? this.config.stop_signal });
        break;
      default:
        break;
    }
  }
}
