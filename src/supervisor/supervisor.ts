/**
 * The Supervisor: one per daemon. It owns the plugin registry, the hooks, the port pool, the state
 * file and the apps, and implements the SupervisorApi the control plane calls. Construction (load)
 * reads and checks the config and binds nothing; `start()` recovers leftovers of a previous run,
 * binds every app's listener and starts every app.
 */
import { join } from 'node:path';
import { GvConfigError, GvError } from '../errors.js';
import type { AppConfig, Config } from '../config/model.js';
import { DEFAULT_READ_BOUNDS, loadAppFile, loadConfig, type LoadOptions, type ReadBounds } from '../config/load.js';
import { suggest } from '../config/suggest.js';
import type { Engine } from '../plugins/engine.js';
import { Hooks } from '../plugins/hooks.js';
import { configLoadOptions } from '../plugins/loader.js';
import type { Registry } from '../plugins/registry.js';
import type { Plugin, RegistryEntry } from '../plugins/types.js';
import type { AppStatus, LogFiles, ReloadResult, RestartResult, SupervisorApi } from './api.js';
import { App, type AppContext } from './app.js';
import { LogFilePool } from './app-logs.js';
import { DaemonLog } from './daemon-log.js';
import { Budget, connectionsFor, raiseNofile, readNofile } from './fd-limit.js';
import type { ProbeTiming } from './instance.js';
import { PortPool } from './port-pool.js';
import { groupUsage } from './proc.js';
import type { BackoffOptions } from './restart-policy.js';
import { stableJson } from './stable-json.js';
import { StateFile, type InstanceRecord } from './state-file.js';
import { NO_KEEPER, tcpKey, type Keeper } from './handover.js';
import type { OutputMode } from './output-pipes.js';

/** Options of {@link Supervisor.load}. */
export interface SupervisorOptions {
  /**
   * Builds the plugin registry around the supervisor's hook runner. gracevisord passes
   * `createRegistry` from src/builtins.ts, which registers the built-in plugins first; the
   * supervisor itself knows no plugin by name.
   */
  createRegistry: (hooks: Hooks) => Registry;
  /** The daemon's log; default: a DaemonLog writing to the config's log file only (no stderr). */
  log?: DaemonLog;
  /** How long one hook handler may take, ms (default 5000). */
  hookTimeoutMs?: number;
  /** Restart backoff: first delay, cap, and how long an instance must stay up to reset the count. */
  backoff?: BackoffOptions;
  /** Readiness probe pacing (default 5 ms ×1.5 up to 20 ms). */
  probeTiming?: ProbeTiming;
  /** How long recovery waits after SIGTERM before SIGKILL for a previous run's leftovers, ms (default 2000). */
  recoveryGraceMs?: number;
  /** Extra plugins registered after `createRegistry`'s and before the config's (embedders and tests). */
  plugins?: readonly Plugin[];
  /**
   * How much memory and time reading a config (at start, reload and add) may take; it runs in a
   * worker thread so no config can exhaust the daemon. Default {@link DEFAULT_READ_BOUNDS}; `false`
   * reads in the daemon's own thread (in-process tests, where a worker would have to compile the
   * TypeScript sources again).
   */
  configBounds?: ReadBounds | false;
  /**
   * Whoever keeps listeners and instance pipes alive across daemons (./handover.ts): gracevisord's
   * holder. Default: nothing is kept (an embedded supervisor).
   */
  keeper?: Keeper;
  /** Instance output through anonymous pipes (default) or FIFOs in `<run_dir>/pipes` (with a keeper). */
  output?: 'pipe' | 'fifo';
  /**
   * The process the run directory's lock names: the holder, in gracevisord, so that the daemon that
   * succeeds this one (an upgrade, a restart after a crash) may take it. Default: this process.
   */
  lockOwner?: { pid: number; procStart: string | null };
}

/** The daemon's core. */
export class Supervisor implements SupervisorApi {
  readonly registry: Registry;
  readonly hooks: Hooks;
  readonly log: DaemonLog;
  readonly ports: PortPool;
  readonly stateFile: StateFile;
  #config: Config;
  readonly #opts: SupervisorOptions;
  readonly #ownLog: boolean;
  readonly #apps = new Map<string, App>();
  /** Apps added at run time with `add`, by name: their files are read again on reload. */
  readonly #addedFiles = new Map<string, string>();
  readonly #logFiles: LogFilePool;
  /** The daemon-wide cap on client connections (max_connections, else from the descriptor limit). */
  readonly budget = new Budget(Infinity);
  #nextId = 0;
  #started = false;
  /** Set by {@link freeze}: handing over to a successor; nothing changes any more. */
  #frozen = false;
  readonly #keeper: Keeper;
  readonly #output: OutputMode;
  #shutdown: Promise<void> | null = null;
  #reloading: Promise<unknown> = Promise.resolve();

  private constructor(config: Config, registry: Registry, hooks: Hooks, log: DaemonLog, ownLog: boolean, opts: SupervisorOptions) {
    this.#config = config;
    this.registry = registry;
    this.hooks = hooks;
    this.log = log;
    this.#ownLog = ownLog;
    this.#opts = opts;
    this.ports = new PortPool(config.port_range);
    this.#keeper = opts.keeper ?? NO_KEEPER;
    this.#output = opts.output === 'fifo' ? { kind: 'fifo', dir: join(config.run_dir, 'pipes') } : { kind: 'pipe' };
    this.stateFile = new StateFile(config.run_dir, (err) => log.error(err.message, { code: err.code }), {
      ...(opts.lockOwner && { owner: opts.lockOwner }),
      onChange: (records) => this.#keeper.instances(records, config.run_dir),
    });
    this.#logFiles = new LogFilePool((file, err) => log.error('app log file failed', { file, error: err.message }));
  }

  /**
   * Build the registry (`opts.createRegistry`, then `opts.plugins`, then the config's plugins),
   * load and check the config. No processes or sockets yet. Rejects with GvConfigError on a bad config.
   */
  static async load(configPath: string, opts: SupervisorOptions): Promise<Supervisor> {
    const log = opts.log ?? new DaemonLog({ stderr: false });
    const hooks = new Hooks({
      timeoutMs: opts.hookTimeoutMs ?? 5000,
      onError: (err) => log.error(err.message, { code: err.code, ...err.details }),
      log: (level, msg, fields) => log.write(level, msg, fields),
    });
    const registry = opts.createRegistry(hooks);
    for (const p of opts.plugins ?? []) registry.register(p);
    const config = await loadConfig(configPath, { ...configLoadOptions(registry), ...boundsOf(opts), onWarning: (w) => log.warn(w.format(), { event: 'config_warning', code: w.code }) });
    return new Supervisor(config, registry, hooks, log, opts.log === undefined, opts);
  }

  /** The config now in effect (replaced by a successful reload). */
  get config(): Config {
    return this.#config;
  }

  /** The App objects (tests and embedders). */
  app(name: string): App {
    const app = this.#apps.get(name);
    if (!app) throw appNotFound(name, [...this.#apps.keys()]);
    return app;
  }

  /**
   * Take the run directory (GV_ERR_DAEMON_RUNNING when another daemon has it), attach the daemon's
   * log file (a daemon refused the run directory never writes the holder's log), stop what a previous
   * run left, bind every app's listener, start every app. Resolves when every app serves or failed
   * its first attempt; rejects only if the run directory is taken or a listener cannot bind (then
   * everything bound so far is closed again).
   */
  async start(opts: { takeover?: boolean } = {}): Promise<void> {
    if (this.#started) throw new GvError('GV_ERR_APP_STATE', 'the supervisor is already started');
    this.#started = true;
    await this.stateFile.lock();
    // Only the daemon that holds the run_dir writes the log file: one refused it writes nothing there.
    if (!this.log.file) this.log.useFile(this.#config.logger);
    try {
      const fds = await raiseNofile();
      if (fds.error) this.log.warn('cannot raise the open files limit', { soft: fds.before?.soft, hard: fds.before?.hard, error: fds.error });
      this.#sizeBudget(this.#config);
      const leftovers = await this.#leftovers();
      const apps: App[] = [];
      // One app that cannot run (unknown user, …) does not keep the others down: it shows as fatal.
      for (const cfg of this.#config.apps) apps.push(await App.create(cfg, this.#context(), { tolerateSetupError: true }));
      const bound: App[] = [];
      try {
        for (const app of apps) {
          await app.listen();
          bound.push(app);
        }
      } catch (err) {
        await Promise.all(bound.map((a) => a.close()));
        throw err;
      }
      for (const app of apps) this.#apps.set(app.name, app);
      for (const app of apps) this.#keep(app);
      await Promise.all(apps.map(async (app) => {
        void this.hooks.emit('onAppAdded', app.name, { config: app.config });
        const left = leftovers.get(app.name);
        if (left) {
          for (const r of await app.adopt(left, (id, stream) => this.#keeper.partial(id, stream))) {
            const fields = { event: 'adopted_instance', app: app.name, instance: r.id, outcome: r.outcome, ...(r.why && { why: r.why }) };
            if (r.outcome === 'adopted') this.log.info('took over an instance a previous daemon started', fields);
            else this.log.warn(r.outcome === 'replaced' ? 'took over an instance a previous daemon started; replacing it' : 'could not take over an instance a previous daemon started', fields);
          }
        } else {
          await app.start();
        }
        this.log.info('app started', { event: 'app_started', app: app.name, address: app.status().address, state: app.status().state });
      }));
    } catch (err) {
      // A takeover that fails leaves the run directory to the daemon it was taking over from.
      if (!opts.takeover) await this.stateFile.unlock();
      throw err;
    }
    void this.hooks.emit('onDaemonReady', null, { config: this.#config });
    this.log.info('gracevisord ready', { event: 'daemon_ready', apps: this.#apps.size, config: this.#config.file });
  }

  /**
   * What a previous daemon left running, by app, to be adopted. Only a daemon with a keeper adopts
   * (its predecessor's listeners and instance output were kept for it); without one, and for apps no
   * longer in the config, every leftover is stopped instead.
   */
  async #leftovers(): Promise<Map<string, InstanceRecord[]>> {
    const byApp = new Map<string, InstanceRecord[]>();
    const names = new Set(this.#config.apps.map((a) => a.name));
    const grace = this.#opts.recoveryGraceMs ?? 2000;
    const keep = this.#keeper !== NO_KEEPER ? (r: InstanceRecord): boolean => names.has(r.app) : (): boolean => false;
    const { adopt, stopped } = await this.stateFile.takeLeftovers(keep, grace);
    for (const r of stopped) {
      this.log.warn('stopped an instance a previous run left', { event: 'recovered_instance', app: r.app, instance: r.id, pid: r.pid, port: r.port, outcome: r.outcome });
    }
    for (const r of adopt) byApp.set(r.app, [...(byApp.get(r.app) ?? []), r]);
    return byApp;
  }

  /** Give an app's listener to the keeper (a successor daemon takes it back by key). */
  #keep(app: App): void {
    const h = app.engine.handle?.() ?? null;
    if (h) this.#keeper.hold(tcpKey(app.config.external_host, app.config.external_port), h);
  }

  status(app?: string): AppStatus[] {
    const apps = app !== undefined ? [this.app(app)] : [...this.#apps.values()];
    const pgids = new Set<number>();
    for (const a of apps) for (const i of a.instances) if (i.pid !== null) pgids.add(i.pid);
    const usage = groupUsage(pgids);
    return apps.map((a) => a.status(usage));
  }

  async startApp(name: string): Promise<AppStatus> {
    this.#assertNotFrozen();
    const app = this.app(name);
    await app.start();
    return app.status();
  }

  async stopApp(name: string): Promise<AppStatus> {
    this.#assertNotFrozen();
    const app = this.app(name);
    await app.stop();
    return app.status();
  }

  async restartApp(name: string): Promise<RestartResult> {
    this.#assertNotFrozen();
    return this.app(name).restart({ reason: 'operator' });
  }

  async restartAll(): Promise<RestartResult[]> {
    this.#assertNotFrozen();
    return Promise.all([...this.#apps.values()].map((a) => a.restart({ reason: 'operator' })));
  }

  async killApp(name: string): Promise<AppStatus> {
    this.#assertNotFrozen();
    const app = this.app(name);
    await app.kill();
    return app.status();
  }

  /**
   * Re-read the config file. On any error reject with it and change nothing. Otherwise: start new
   * apps, stop and remove gone ones, restart changed ones hitlessly with their new config (an app
   * whose listen address or engine changed is removed and added again), leave unchanged ones alone.
   */
  reload(): Promise<ReloadResult> {
    if (this.#frozen) return Promise.reject(new GvError('GV_ERR_DAEMON_UPGRADING', 'the daemon is handing over to its successor (an upgrade); reload once it is done'));
    const run = this.#reloading.then(() => {
      void this.hooks.emit('onReloadStarted', null, {});
      return this.#reload();
    }).catch((err: unknown) => {
      const gv = GvError.from(err);
      const errors = (err instanceof GvConfigError ? err.errors : [gv]).map((e) => ({ code: e.code, message: e.message.split('\n')[0]!, ...(e.pos && { pos: e.pos }) }));
      void this.hooks.emit('onReloadFailed', null, { error: { code: gv.code, message: gv.message.split('\n')[0]! }, errors });
      throw err;
    });
    this.#reloading = run.catch(() => {});
    return run;
  }

  async #reload(): Promise<ReloadResult> {
    const next = await loadConfig(this.#config.file, { ...configLoadOptions(this.registry), ...boundsOf(this.#opts), onWarning: (w) => this.log.warn(w.format(), { event: 'config_warning', code: w.code }) });
    const nextApps = new Map<string, AppConfig>(next.apps.map((a) => [a.name, a]));
    for (const [name, file] of this.#addedFiles) {
      if (nextApps.has(name)) continue;
      nextApps.set(name, await loadAppFile(file, { registry: this.registry.configView(), base: { logger: next.logger, user: next.user }, ...boundsOf(this.#opts) }));
    }
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    const unchanged: string[] = [];
    const recreate = new Set<string>();
    for (const [name, app] of this.#apps) {
      const cfg = nextApps.get(name);
      if (!cfg) removed.push(name);
      else if (sameApp(app.config, cfg)) unchanged.push(name);
      else {
        changed.push(name);
        if (listenerChanged(app.config, cfg)) recreate.add(name);
      }
    }
    for (const name of nextApps.keys()) if (!this.#apps.has(name)) added.push(name);

    // Build everything new before touching what runs: a failure here changes nothing.
    const fresh = new Map<string, App>();
    const prepared = new Map<string, Awaited<ReturnType<App['prepare']>>>();
    const boundEarly = new Set<string>();
    try {
      for (const name of [...added, ...recreate]) fresh.set(name, await App.create(nextApps.get(name)!, this.#context()));
      for (const name of changed) if (!recreate.has(name)) prepared.set(name, await this.app(name).prepare(nextApps.get(name)!));
      // Bind new listeners whose address no running app holds; the others bind after their old app closed.
      for (const [name, app] of fresh) {
        if (!recreate.has(name) && !this.#addressTaken(app.config)) {
          await app.listen();
          boundEarly.add(name);
        }
      }
    } catch (err) {
      await Promise.all([...fresh.values()].map((a) => a.close()));
      throw err;
    }

    const prev = this.#config;
    this.#config = next;
    this.#sizeBudget(next);
    // The daemon log follows logger.log_file when it was the config's file (not one gracevisord chose).
    if (this.log.file === (prev.logger.log_file ?? join(prev.logger.log_dir, 'gracevisor.log'))) this.log.useFile(next.logger);
    const tasks: Promise<unknown>[] = [];
    for (const name of removed) tasks.push(this.#removeApp(name));
    for (const name of recreate) {
      tasks.push((async () => {
        await this.#removeApp(name);
        await this.#addApp(fresh.get(name)!, true);
      })());
    }
    for (const [name, p] of prepared) {
      const app = this.app(name);
      tasks.push((async () => {
        const retired = app.apply(p);
        // An app an operator stopped stays stopped; it starts with the new config when told to.
        if (app.status().state !== 'stopped') await app.restart({ reason: 'reload', coalesce: false });
        await retired?.close();
      })());
    }
    await Promise.all(tasks);
    // Added apps whose address was held by a removed one bind now.
    await Promise.all(added.map((name) => this.#addApp(fresh.get(name)!, !boundEarly.has(name))));
    const result: ReloadResult = { added, removed, changed, unchanged };
    this.log.info('config reloaded', { event: 'config_reloaded', ...result });
    void this.hooks.emit('onConfigReloaded', null, result);
    return result;
  }

  /** Add one app from a file (either syntax); GV_ERR_APP_EXISTS or GV_ERR_CONFIG_DUPLICATE_LISTEN on a clash. */
  async addApp(file: string): Promise<AppStatus> {
    this.#assertNotFrozen();
    const cfg = await loadAppFile(file, { registry: this.registry.configView(), base: { logger: this.#config.logger, user: this.#config.user }, ...boundsOf(this.#opts) });
    if (this.#apps.has(cfg.name)) throw new GvError('GV_ERR_APP_EXISTS', `an app named ${cfg.name} already exists`, { details: { app: cfg.name } });
    if (this.#addressTaken(cfg)) {
      throw new GvError('GV_ERR_CONFIG_DUPLICATE_LISTEN', `${cfg.external_host}:${cfg.external_port} is already the address of another app`, { details: { app: cfg.name } });
    }
    const app = await App.create(cfg, this.#context());
    await this.#addApp(app, true);
    this.#addedFiles.set(cfg.name, file);
    return app.status();
  }

  async removeApp(name: string): Promise<void> {
    this.#assertNotFrozen();
    this.app(name);
    await this.#removeApp(name);
  }

  logFiles(name: string): LogFiles {
    return this.app(name).logFiles;
  }

  daemonLogFile(): string | null {
    return this.log.file;
  }

  plugins(): RegistryEntry[] {
    return this.registry.list();
  }

  /**
   * Hand over to a successor daemon, step one (docs/architecture.md "Restartable daemon"): from now
   * on every change is refused (GV_ERR_DAEMON_UPGRADING) and nothing is started, restarted or
   * retried; every app's output is no longer read here and its log files are closed; the state file
   * is no longer written. Resolves with each instance's unfinished output line, for the successor.
   * The instances run on and the engines keep serving.
   */
  async freeze(): Promise<Map<string, { out: Buffer | null; err: Buffer | null }>> {
    this.#frozen = true;
    const partials = new Map<string, { out: Buffer | null; err: Buffer | null }>();
    for (const m of await Promise.all([...this.#apps.values()].map((a) => a.freeze()))) for (const [k, v] of m) partials.set(k, v);
    this.stateFile.detach();
    return partials;
  }

  /**
   * A takeover that failed before this daemon served: kill only what it started itself, leave the
   * adopted instances and the run directory to the daemon it was taking over from, and write nothing.
   */
  async abandon(): Promise<void> {
    this.#frozen = true;
    this.stateFile.detach();
    await Promise.all([...this.#apps.values()].map((a) => a.abandon()));
    this.#apps.clear();
  }

  /** Undo {@link freeze}: the successor died before it took over; carry on as before. */
  thaw(): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    for (const a of this.#apps.values()) a.thaw();
    this.stateFile.reattach();
    this.log.warn('the new daemon did not take over; carrying on', { event: 'handover_aborted' });
  }

  /** Step two, once the successor serves: every engine stops accepting and finishes its open work. The instances are left running. */
  async retire(): Promise<void> {
    await Promise.all([...this.#apps.values()].map((a) => a.retire()));
    this.#apps.clear();
    this.log.info('handed over to the new daemon', { event: 'handed_over' });
    if (this.#ownLog) await this.log.close();
  }

  /** True once {@link freeze} ran. */
  get frozen(): boolean {
    return this.#frozen;
  }

  #assertNotFrozen(): void {
    if (this.#frozen) throw new GvError('GV_ERR_DAEMON_UPGRADING', 'the daemon is handing over to its successor (an upgrade); try again in a moment');
  }

  /** Stop every app in parallel (drain, stop), close the listeners, release the run directory. */
  shutdown(signal: string | null = null): Promise<void> {
    this.#shutdown ??= (async () => {
      this.log.info('shutting down', { signal });
      await this.hooks.emit('onDaemonStop', null, { signal });
      await Promise.all([...this.#apps.values()].map((a) => a.close()));
      this.#apps.clear();
      // flush and unlock only touch the run_dir when start() took it.
      await this.stateFile.flush();
      await this.stateFile.unlock();
      this.log.info('stopped');
      if (this.#ownLog) await this.log.close();
    })();
    return this.#shutdown;
  }

  async #addApp(app: App, listen: boolean): Promise<void> {
    if (listen) {
      try {
        await app.listen();
      } catch (err) {
        await app.close();
        throw err;
      }
    }
    this.#keep(app);
    this.#apps.set(app.name, app);
    void this.hooks.emit('onAppAdded', app.name, { config: app.config });
    await app.start();
  }

  async #removeApp(name: string): Promise<void> {
    const app = this.#apps.get(name);
    if (!app) return;
    this.#apps.delete(name);
    this.#addedFiles.delete(name);
    this.#keeper.drop(tcpKey(app.config.external_host, app.config.external_port));
    await app.close();
    void this.hooks.emit('onAppRemoved', name, { name });
  }

  /** Size the connection budget: the config's max_connections, else what the descriptor limit allows. */
  #sizeBudget(config: Config): void {
    const instances = config.apps.reduce((n, a) => n + a.instances, 0);
    const nofile = readNofile()?.soft ?? 1024;
    const max = config.max_connections ?? connectionsFor(nofile, instances);
    this.budget.resize(max);
    this.log.info('connection budget', { max_connections: max, open_files: nofile, source: config.max_connections === null ? 'open files limit' : 'config' });
  }

  #addressTaken(cfg: AppConfig, except?: App): boolean {
    for (const app of this.#apps.values()) {
      if (app === except || app.name === cfg.name) continue;
      if (app.config.external_port === cfg.external_port && app.config.external_host === cfg.external_host) return true;
    }
    return false;
  }

  #context(): AppContext {
    return {
      hooks: this.hooks,
      ports: this.ports,
      state: this.stateFile,
      logFiles: this.#logFiles,
      log: this.log,
      createEngine: (cfg) => this.#createEngine(cfg),
      healthcheck: (type) => this.registry.healthcheck(type),
      nextId: (app) => `${app}#${++this.#nextId}`,
      reserveId: (id) => {
        const n = Number(id.slice(id.lastIndexOf('#') + 1));
        if (Number.isInteger(n) && n > this.#nextId) this.#nextId = n;
      },
      output: this.#output,
      ...(this.#opts.backoff && { backoff: this.#opts.backoff }),
      ...(this.#opts.probeTiming && { probeTiming: this.#opts.probeTiming }),
    };
  }

  #createEngine(cfg: AppConfig): Engine {
    const def = this.registry.engine(cfg.proxy);
    if (!def) throw new GvError('GV_ERR_CONFIG_ENGINE_UNKNOWN', `app ${cfg.name}: no engine ${cfg.proxy} is registered`, { details: { app: cfg.name } });
    const reason = def.unavailable?.() ?? null;
    if (reason) throw new GvError('GV_ERR_ENGINE_UNAVAILABLE', `app ${cfg.name}: engine ${cfg.proxy} is not available: ${reason}`, { details: { app: cfg.name } });
    return def.create({
      app: cfg.name,
      host: cfg.external_host,
      port: cfg.external_port,
      queueTimeoutMs: cfg.queue_timeout,
      log: (level, msg, fields) => this.log.write(level, msg, { app: cfg.name, ...fields }),
      ...(cfg.max_connections !== null && { maxConnections: cfg.max_connections }),
      budget: this.budget,
      upstreamTimeoutMs: cfg.upstream_timeout,
      upstreamIdleMs: cfg.upstream_idle_timeout,
      keepAliveMs: cfg.keepalive_timeout,
      headerTimeoutMs: cfg.header_timeout,
      maxHeaderBytes: cfg.max_header_size,
      trustedProxies: cfg.trusted_proxies,
      ...this.#inherited(cfg),
    });
  }

  /** The listening socket the previous daemon had for this app's address, if the keeper has one. */
  #inherited(cfg: AppConfig): { listenHandle?: object } {
    const h = this.#keeper.take(tcpKey(cfg.external_host, cfg.external_port));
    return h ? { listenHandle: h } : {};
  }
}

/** GV_ERR_APP_NOT_FOUND for `name`, with the nearest app name as a suggestion. */
export function appNotFound(name: string, known: readonly string[]): GvError {
  const suggestion = suggest(name, known);
  return new GvError('GV_ERR_APP_NOT_FOUND', `no app named "${name}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`, { details: { app: name, suggestion } });
}

/** The load option for a supervisor's config bounds. */
function boundsOf(opts: SupervisorOptions): Pick<LoadOptions, 'bounds'> {
  return opts.configBounds === false ? {} : { bounds: opts.configBounds ?? DEFAULT_READ_BOUNDS };
}

/** Equal configs apart from where they were written. */
function sameApp(a: AppConfig, b: AppConfig): boolean {
  return stableJson({ ...a, source: null }) === stableJson({ ...b, source: null });
}

/** The keys an engine is built with: a change to any needs a new listener (or engine). */
const ENGINE_KEYS = ['external_host', 'external_port', 'proxy', 'queue_timeout', 'upstream_timeout', 'upstream_idle_timeout', 'keepalive_timeout', 'header_timeout', 'max_header_size', 'max_connections', 'trusted_proxies'] as const;

/** A change that needs a new listener (or engine): remove and add rather than restart. */
function listenerChanged(a: AppConfig, b: AppConfig): boolean {
  return ENGINE_KEYS.some((k) => stableJson(a[k]) !== stableJson(b[k]));
}
