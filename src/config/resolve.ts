/**
 * The one resolver: raw trees (from either syntax) to the frozen `Config` of ./model.ts. It applies
 * the defaults of the original README, inherits `logger` and `user` from the global section into
 * apps, resolves relative paths against the directory of the file that names them, checks types and
 * ranges, rejects unknown keys with a suggestion, and collects every problem instead of stopping at
 * the first. Called by ./load.ts; it reads no files itself.
 */
import { constants as osConstants } from 'node:os';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { GvConfigError, GvError, type ErrorCode, type SourcePosition } from '../errors.js';
import { currentRuntime, defaultRunDir, DEFAULTS, type RuntimeInfo } from './defaults.js';
import type { ConfigRegistryView, PluginLoadSpec } from './load.js';
import type { AppConfig, AppLoggerConfig, Config, HealthcheckConfig, LoggerConfig, UserConfig } from './model.js';
import { describeRaw, getEntry, rawToPlain, type RawEntry, type RawMap, type RawValue } from './raw.js';
import { suggest } from './suggest.js';
import { parseDuration, parseSize } from './units.js';

// Re-exported for callers that reach the defaults through the resolver (gracevisorctl's target lookup).
export { currentRuntime, defaultRunDir, DEFAULTS, type RuntimeInfo } from './defaults.js';

/** Engines and healthcheck types accepted when no registry view is given. */
export const BUILTIN_ENGINES: readonly string[] = ['http', 'tcp', 'splice'];
/** Healthcheck types accepted when no registry view is given. */
export const BUILTIN_HEALTHCHECKS: readonly string[] = ['http', 'tcp', 'exec'];

const TOP_KEYS = ['port_range', 'rpc', 'logger', 'user', 'apps_include', 'apps', 'plugins', 'run_dir'];
const PORT_RANGE_KEYS = ['from', 'to'];
const RPC_KEYS = ['host', 'port', 'socket', 'token', 'token_file'];
const LOGGER_KEYS = ['log_dir', 'log_file', 'max_log_size', 'max_logs_kept', 'max_log_age'];
const APP_LOGGER_KEYS = ['log_dir', 'log_file', 'stdout_log_file', 'stderr_log_file', 'max_log_size', 'max_logs_kept', 'max_log_age'];
const USER_KEYS = ['username'];
/** Every key an app takes. */
export const APP_KEYS: readonly string[] = [
  'name', 'command', 'environment', 'directory', 'healthcheck', 'internal_host', 'external_host', 'external_port',
  'proxy', 'stop_signal', 'max_retries', 'start_timeout', 'stop_timeout', 'drain_timeout', 'instances',
  'queue_timeout', 'user', 'logger',
];
const HEALTHCHECK_COMMON_KEYS = ['type', 'interval', 'timeout', 'unhealthy_threshold'];

/** Options of {@link resolveConfig}. */
export interface ResolveOptions {
  registry?: ConfigRegistryView;
  loadPlugins?: (specs: PluginLoadSpec[]) => Promise<void>;
  runtime?: RuntimeInfo;
}

/** The resolver's input: the main file's tree, and the app mappings its includes contributed. */
export interface ResolveInput {
  /** Absolute path of the main config file. */
  file: string;
  root: RawMap;
  includedApps: RawMap[];
  /** Problems already found while loading (syntax, includes); reported with the resolver's own. */
  errors?: GvError[];
}

/** What the app part of the resolver needs from the global section. */
interface GlobalDefaults {
  logger: LoggerConfig;
  user: UserConfig | null;
}

/** Checks that wait until plugins are loaded: an app's engine and healthcheck type. */
interface DeferredApp {
  app: AppConfig;
  map: RawMap;
  proxyPos: SourcePosition;
  healthcheck: { type: string; options: Record<string, unknown>; keyPos: SourcePosition } | null;
}

/**
 * Resolve a whole config. Throws a GvConfigError with every problem (the input's load errors
 * first), or returns the deep-frozen Config.
 */
export async function resolveConfig(input: ResolveInput, opts: ResolveOptions = {}): Promise<Config> {
  const r = new Resolver(input.errors ?? []);
  const rt = opts.runtime ?? currentRuntime();
  const root = input.root;
  r.checkKeys(root, TOP_KEYS, 'the top level');

  const port_range = r.portRange(getEntry(root, 'port_range'));
  const run_dir = r.path(getEntry(root, 'run_dir')?.value) ?? defaultRunDir(rt);
  const rpc = r.rpc(getEntry(root, 'rpc'), run_dir);
  const logger = r.globalLogger(getEntry(root, 'logger')?.value, input.file);
  const userEntry = getEntry(root, 'user');
  const user = userEntry ? r.user(userEntry.value) : null;
  const pluginSpecs = r.plugins(getEntry(root, 'plugins')?.value);
  const includeEntry = getEntry(root, 'apps_include');
  if (includeEntry) r.stringList(includeEntry.value, 'apps_include');

  const appMaps: RawMap[] = [];
  const appsEntry = getEntry(root, 'apps');
  if (appsEntry && !(appsEntry.value.kind === 'scalar' && appsEntry.value.value === null)) {
    if (appsEntry.value.kind !== 'list') {
      r.error('GV_ERR_CONFIG_TYPE', `"apps" must be a list of apps, not ${describeRaw(appsEntry.value)}`, appsEntry.value.pos);
    } else {
      for (const item of appsEntry.value.items) {
        if (item.kind === 'map') appMaps.push(item);
        else r.error('GV_ERR_CONFIG_TYPE', `an app must be a mapping, not ${describeRaw(item)}`, item.pos);
      }
    }
  }
  appMaps.push(...input.includedApps);

  const globals: GlobalDefaults = { logger, user };
  const deferred: DeferredApp[] = [];
  for (const map of appMaps) {
    const d = r.app(map, globals);
    if (d) deferred.push(d);
  }

  if (opts.loadPlugins && pluginSpecs.length > 0) await r.loadPlugins(opts.loadPlugins, pluginSpecs);
  for (const d of deferred) r.checkRegistry(d, opts.registry);
  r.checkUnique(deferred);

  r.throwIfAny();
  const config: Config = {
    file: input.file,
    port_range,
    rpc,
    run_dir,
    logger,
    user,
    plugins: pluginSpecs.map((p) => p.spec),
    apps: deferred.map((d) => d.app),
  };
  return deepFreeze(config);
}

/**
 * Resolve one app mapping (for `gracevisorctl add FILE`), inheriting from `base` (the running
 * config) when given. Throws a GvConfigError, or returns the frozen AppConfig.
 */
export async function resolveAppConfig(
  map: RawMap,
  base: { logger: LoggerConfig; user: UserConfig | null } | null,
  opts: ResolveOptions & { errors?: GvError[] } = {},
): Promise<AppConfig> {
  const r = new Resolver(opts.errors ?? []);
  const logger = base?.logger ?? r.globalLogger(undefined, map.pos.file);
  const d = r.app(map, { logger, user: base?.user ?? null });
  if (d) r.checkRegistry(d, opts.registry);
  r.throwIfAny();
  return deepFreeze(d!.app);
}

/** Holds the error list while one config is resolved; each method reads one part of the tree. */
class Resolver {
  readonly #errors: GvError[];

  constructor(errors: GvError[]) {
    this.#errors = [...errors];
  }

  error(code: ErrorCode, message: string, pos: SourcePosition, details?: Record<string, unknown>): void {
    this.#errors.push(new GvError(code, message, details ? { pos, details } : { pos }));
  }

  throwIfAny(): void {
    if (this.#errors.length > 0) throw new GvConfigError(this.#errors);
  }

  /** Reject keys of `map` not in `known`, suggesting the nearest one. */
  checkKeys(map: RawMap, known: readonly string[], where: string): void {
    for (const e of map.entries) {
      if (known.includes(e.key)) continue;
      const suggestion = suggest(e.key, known);
      const hint = suggestion ? `; did you mean "${suggestion}"?` : '';
      this.error('GV_ERR_CONFIG_UNKNOWN_KEY', `unknown key "${e.key}" in ${where}${hint}`, e.keyPos, {
        key: e.key,
        suggestion,
        known: [...known],
      });
    }
  }

  /** The value as a mapping, or undefined after a type error. A missing value is an empty mapping. */
  map(v: RawValue | undefined, what: string, at: SourcePosition): RawMap | undefined {
    if (v === undefined) return { kind: 'map', entries: [], pos: at };
    if (v.kind === 'scalar' && v.value === null) return { kind: 'map', entries: [], pos: v.pos };
    if (v.kind === 'map') return v;
    this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a mapping (a block), not ${describeRaw(v)}`, v.pos);
    return undefined;
  }

  /** A string (a number is taken as its decimal text, as `user 1000;` or `host: 127` would mean). */
  string(v: RawValue, what: string): string | undefined {
    if (v.kind === 'scalar' && typeof v.value === 'string') return v.value;
    if (v.kind === 'scalar' && typeof v.value === 'number') return String(v.value);
    this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a string, not ${describeRaw(v)}`, v.pos);
    return undefined;
  }

  nonEmpty(v: RawValue, what: string): string | undefined {
    const s = this.string(v, what);
    if (s === undefined) return undefined;
    if (s.trim() === '') {
      this.error('GV_ERR_CONFIG_RANGE', `"${what}" must not be empty`, v.pos);
      return undefined;
    }
    return s;
  }

  /** A string or a list of strings, as a list. */
  stringList(v: RawValue, what: string): { value: string; pos: SourcePosition }[] {
    const items = v.kind === 'list' ? v.items : [v];
    const out: { value: string; pos: SourcePosition }[] = [];
    for (const item of items) {
      const s = this.nonEmpty(item, what);
      if (s !== undefined) out.push({ value: s, pos: item.pos });
    }
    return out;
  }

  integer(v: RawValue, what: string, min: number, max: number): number | undefined {
    if (v.kind !== 'scalar' || typeof v.value !== 'number' || !Number.isInteger(v.value)) {
      this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be an integer, not ${describeRaw(v)}${v.kind === 'scalar' ? ` (${JSON.stringify(v.value)})` : ''}`, v.pos);
      return undefined;
    }
    if (v.value < min || v.value > max) {
      this.error('GV_ERR_CONFIG_RANGE', `"${what}" must be between ${min} and ${max}, not ${v.value}`, v.pos, { min, max, value: v.value });
      return undefined;
    }
    return v.value;
  }

  port(v: RawValue, what: string): number | undefined {
    return this.integer(v, what, 1, 65535);
  }

  /** A duration in ms; `-1` means "none" (null) where `unlimited` allows it. */
  duration(v: RawValue, what: string, opts: { unlimited?: boolean; min?: number } = {}): number | null | undefined {
    if (v.kind !== 'scalar' || (typeof v.value !== 'number' && typeof v.value !== 'string')) {
      this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a duration (30, 500ms, 30s, 5m), not ${describeRaw(v)}`, v.pos);
      return undefined;
    }
    if (opts.unlimited && (v.value === -1 || v.value === '-1')) return null;
    const ms = parseDuration(v.value);
    if (ms === null) {
      this.error('GV_ERR_CONFIG_DURATION', `"${what}" is not a duration: ${JSON.stringify(v.value)} (use seconds or 500ms, 30s, 5m, 1h${opts.unlimited ? ', or -1 for none' : ''})`, v.pos);
      return undefined;
    }
    const min = opts.min ?? 0;
    if (ms < min) {
      this.error('GV_ERR_CONFIG_RANGE', `"${what}" must be at least ${min} ms, not ${ms} ms`, v.pos, { min, value: ms });
      return undefined;
    }
    return ms;
  }

  size(v: RawValue, what: string): number | undefined {
    if (v.kind !== 'scalar' || (typeof v.value !== 'number' && typeof v.value !== 'string')) {
      this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a size (500 for MB, or 64K, 500M, 1G), not ${describeRaw(v)}`, v.pos);
      return undefined;
    }
    const bytes = parseSize(v.value);
    if (bytes === null) {
      this.error('GV_ERR_CONFIG_SIZE', `"${what}" is not a size: ${JSON.stringify(v.value)} (use megabytes, or 64K, 500M, 1G)`, v.pos);
      return undefined;
    }
    if (bytes < 1) {
      this.error('GV_ERR_CONFIG_RANGE', `"${what}" must be more than 0`, v.pos);
      return undefined;
    }
    return bytes;
  }

  /** A path, absolute, resolved against the directory of the file that wrote it. */
  path(v: RawValue | undefined, what = 'path'): string | undefined {
    if (v === undefined) return undefined;
    const s = this.nonEmpty(v, what);
    if (s === undefined) return undefined;
    return isAbsolute(s) ? s : resolvePath(dirname(v.pos.file), s);
  }

  portRange(entry: RawEntry | undefined): { from: number; to: number } {
    const out = { from: DEFAULTS.port_range.from, to: DEFAULTS.port_range.to };
    if (!entry) return out;
    const v = entry.value;
    let fromV: RawValue | undefined;
    let toV: RawValue | undefined;
    if (v.kind === 'list') {
      if (v.items.length !== 2) {
        this.error('GV_ERR_CONFIG_TYPE', `"port_range" takes two ports (from and to), not ${v.items.length}`, v.pos);
        return out;
      }
      [fromV, toV] = v.items;
    } else {
      const m = this.map(v, 'port_range', entry.keyPos);
      if (!m) return out;
      this.checkKeys(m, PORT_RANGE_KEYS, '"port_range"');
      fromV = getEntry(m, 'from')?.value;
      toV = getEntry(m, 'to')?.value;
    }
    const from = fromV ? this.port(fromV, 'port_range.from') : out.from;
    const to = toV ? this.port(toV, 'port_range.to') : out.to;
    if (from === undefined || to === undefined) return out;
    if (from > to) {
      this.error('GV_ERR_CONFIG_RANGE', `"port_range" is inverted: from ${from} is above to ${to}`, entry.keyPos, { from, to });
      return out;
    }
    return { from, to };
  }

  rpc(entry: RawEntry | undefined, runDir: string): Config['rpc'] {
    const out: Config['rpc'] = { socket: join(runDir, 'gracevisord.sock'), host: null, port: null, token: null, token_file: null };
    if (!entry) return out;
    const m = this.map(entry.value, 'rpc', entry.keyPos);
    if (!m) return out;
    this.checkKeys(m, RPC_KEYS, '"rpc"');
    const host = getEntry(m, 'host');
    const port = getEntry(m, 'port');
    const socket = getEntry(m, 'socket');
    const token = getEntry(m, 'token');
    const tokenFile = getEntry(m, 'token_file');
    if (socket) out.socket = this.path(socket.value, 'rpc.socket') ?? out.socket;
    // TCP is on only when the config names it; then the other half takes the original default.
    if (host || port) {
      out.host = (host && this.nonEmpty(host.value, 'rpc.host')) ?? DEFAULTS.rpc_host;
      out.port = (port && this.port(port.value, 'rpc.port')) ?? DEFAULTS.rpc_port;
    }
    if (token) out.token = this.nonEmpty(token.value, 'rpc.token') ?? null;
    if (tokenFile) out.token_file = this.path(tokenFile.value, 'rpc.token_file') ?? null;
    return out;
  }

  globalLogger(v: RawValue | undefined, file: string): LoggerConfig {
    const out: LoggerConfig = { log_dir: DEFAULTS.log_dir, log_file: null, max_log_size: DEFAULTS.max_log_size, max_logs_kept: null, max_log_age: null };
    const m = v === undefined ? undefined : this.map(v, 'logger', { file, line: 1, col: 1 });
    if (m) {
      this.checkKeys(m, LOGGER_KEYS, '"logger"');
      this.#loggerCommon(m, out);
      const logFile = getEntry(m, 'log_file');
      if (logFile) out.log_file = this.path(logFile.value, 'logger.log_file') ?? null;
    }
    out.log_file ??= join(out.log_dir, 'gracevisor.log');
    return out;
  }

  /** The keys global and app loggers share, written into `out` when present and valid. */
  #loggerCommon(m: RawMap, out: LoggerConfig): void {
    const dir = getEntry(m, 'log_dir');
    if (dir) out.log_dir = this.path(dir.value, 'logger.log_dir') ?? out.log_dir;
    const size = getEntry(m, 'max_log_size');
    if (size) out.max_log_size = this.size(size.value, 'logger.max_log_size') ?? out.max_log_size;
    const kept = getEntry(m, 'max_logs_kept');
    if (kept) {
      const n = this.integer(kept.value, 'logger.max_logs_kept', -1, 1_000_000);
      if (n !== undefined) out.max_logs_kept = n === -1 ? null : n;
    }
    const age = getEntry(m, 'max_log_age');
    if (age) {
      const ms = this.duration(age.value, 'logger.max_log_age', { unlimited: true, min: 1 });
      if (ms !== undefined) out.max_log_age = ms;
    }
  }

  user(v: RawValue): UserConfig | null {
    if (v.kind === 'scalar' && v.value === null) return null;
    if (v.kind === 'scalar') {
      const name = this.nonEmpty(v, 'user');
      return name === undefined ? null : { username: name };
    }
    const m = this.map(v, 'user', v.pos);
    if (!m) return null;
    this.checkKeys(m, USER_KEYS, '"user"');
    const u = getEntry(m, 'username');
    if (!u) {
      this.error('GV_ERR_CONFIG_REQUIRED', '"user" needs a "username"', m.pos);
      return null;
    }
    const name = this.nonEmpty(u.value, 'user.username');
    return name === undefined ? null : { username: name };
  }

  plugins(v: RawValue | undefined): PluginLoadSpec[] {
    if (v === undefined || (v.kind === 'scalar' && v.value === null)) return [];
    // A path (./x, ../x, /x) resolves against the naming file's directory; a package name stays as is.
    return this.stringList(v, 'plugins').map(({ value, pos }) => ({
      spec: value.startsWith('./') || value.startsWith('../') || value === '.' || value === '..' ? resolvePath(dirname(pos.file), value) : value,
      pos,
    }));
  }

  /** One app. Null when it is too broken to check further (no usable name). */
  app(m: RawMap, g: GlobalDefaults): DeferredApp | null {
    this.checkKeys(m, APP_KEYS, 'an app');
    const get = (k: string): RawEntry | undefined => getEntry(m, k);
    const nameE = get('name');
    let name: string | undefined;
    if (!nameE) this.error('GV_ERR_CONFIG_REQUIRED', 'an app needs a "name"', m.pos);
    else {
      name = this.nonEmpty(nameE.value, 'name');
      if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
        this.error('GV_ERR_CONFIG_TYPE', `app name ${JSON.stringify(name)} may hold only letters, digits, "_", "." and "-" (it names log files and control URLs)`, nameE.value.pos);
        name = undefined;
      }
    }
    const commandE = get('command');
    let command: string | undefined;
    if (!commandE) this.error('GV_ERR_CONFIG_REQUIRED', `app${name ? ` ${name}` : ''} needs a "command"`, m.pos);
    else {
      // A list here is usually an unquoted DSL command or a forgotten `;`: the command must be one string.
      command = this.nonEmpty(commandE.value, 'command');
    }
    const environment = this.environment(get('environment')?.value);
    if (command !== undefined && commandE && !command.includes('{port}') && !environment.some((e) => e.includes('{port}'))) {
      this.error('GV_ERR_CONFIG_PORT_PLACEHOLDER', `app ${name ?? ''}: neither "command" nor "environment" has {port}, so the app cannot be told its port`, commandE.value.pos);
    }
    const opt = <T>(k: string, read: (v: RawValue) => T | undefined, dflt: T): T => {
      const e = get(k);
      if (!e) return dflt;
      const v = read(e.value);
      return v === undefined ? dflt : v;
    };
    const directory = opt('directory', (v) => (v.kind === 'scalar' && v.value === null ? null : this.path(v, 'directory')), null as string | null);
    const internal_host = opt('internal_host', (v) => this.nonEmpty(v, 'internal_host'), DEFAULTS.internal_host);
    const external_host = opt('external_host', (v) => this.nonEmpty(v, 'external_host'), DEFAULTS.external_host);
    const external_port = opt('external_port', (v) => this.port(v, 'external_port'), DEFAULTS.external_port);
    const proxy = opt('proxy', (v) => this.nonEmpty(v, 'proxy'), DEFAULTS.proxy);
    const stop_signal = opt('stop_signal', (v) => this.signal(v), DEFAULTS.stop_signal);
    const max_retries = opt('max_retries', (v) => this.integer(v, 'max_retries', 0, 1_000_000), DEFAULTS.max_retries);
    const start_timeout = opt('start_timeout', (v) => this.duration(v, 'start_timeout', { unlimited: true, min: 1 }), null as number | null);
    const stop_timeout = opt('stop_timeout', (v) => this.duration(v, 'stop_timeout', { unlimited: true, min: 1 }), null as number | null);
    const drain_timeout = opt('drain_timeout', (v) => this.duration(v, 'drain_timeout') ?? undefined, DEFAULTS.drain_timeout);
    const queue_timeout = opt('queue_timeout', (v) => this.duration(v, 'queue_timeout') ?? undefined, DEFAULTS.queue_timeout);
    const instances = opt('instances', (v) => this.integer(v, 'instances', 1, 1024), DEFAULTS.instances);
    // An empty value (YAML `user:`) is the same as leaving the key out: inherit / no check.
    const given = (k: string): RawEntry | undefined => {
      const e = get(k);
      return e && !(e.value.kind === 'scalar' && e.value.value === null) ? e : undefined;
    };
    const userE = given('user');
    const user = userE ? this.user(userE.value) : g.user;
    const hcE = given('healthcheck');
    const hc = hcE ? this.healthcheck(hcE) : null;
    const logger = this.appLogger(get('logger'), g.logger, name ?? 'unnamed', m.pos);

    if (name === undefined || command === undefined) return null;
    const app: AppConfig = {
      name,
      command,
      environment,
      directory,
      healthcheck: hc?.config ?? null,
      internal_host,
      external_host,
      external_port,
      proxy,
      stop_signal,
      max_retries,
      start_timeout,
      stop_timeout,
      drain_timeout,
      instances,
      queue_timeout,
      user,
      logger,
      source: m.pos,
    };
    return {
      app,
      map: m,
      proxyPos: get('proxy')?.keyPos ?? m.pos,
      healthcheck: hc && hcE ? { type: hc.config.type, options: hc.options, keyPos: hcE.keyPos } : null,
    };
  }

  environment(v: RawValue | undefined): string[] {
    if (v === undefined || (v.kind === 'scalar' && v.value === null)) return [];
    if (v.kind === 'map') {
      const out: string[] = [];
      for (const e of v.entries) {
        const val = e.value.kind === 'scalar' && e.value.value !== null ? String(e.value.value) : this.string(e.value, `environment.${e.key}`);
        if (val !== undefined) out.push(`${e.key}=${val}`);
      }
      return out;
    }
    const out: string[] = [];
    for (const { value, pos } of this.stringList(v, 'environment')) {
      if (!/^[^=\s]+=/.test(value)) {
        this.error('GV_ERR_CONFIG_TYPE', `environment entries are KEY=value, not ${JSON.stringify(value)}`, pos);
        continue;
      }
      out.push(value);
    }
    return out;
  }

  /** A signal name, with or without SIG, any case; the result is the name without SIG. */
  signal(v: RawValue): string | undefined {
    const s = this.nonEmpty(v, 'stop_signal');
    if (s === undefined) return undefined;
    const name = s.toUpperCase().replace(/^SIG/, '');
    if (!(`SIG${name}` in osConstants.signals)) {
      const known = Object.keys(osConstants.signals).map((k) => k.slice(3));
      const suggestion = suggest(name, known);
      this.error('GV_ERR_CONFIG_RANGE', `"stop_signal" ${JSON.stringify(s)} is not a signal${suggestion ? `; did you mean "${suggestion}"?` : ''}`, v.pos, { suggestion });
      return undefined;
    }
    return name;
  }

  /**
   * A healthcheck: the original path string (an HTTP check) or a typed block. Common keys are read
   * here; the rest are the type's own options, checked later by its plugin's parser.
   */
  healthcheck(e: RawEntry): { config: HealthcheckConfig; options: Record<string, unknown> } | undefined {
    const v = e.value;
    const base = { interval: DEFAULTS.healthcheck_interval, timeout: DEFAULTS.healthcheck_timeout, unhealthy_threshold: DEFAULTS.healthcheck_unhealthy_threshold };
    if (v.kind === 'scalar' && typeof v.value === 'string') {
      if (!v.value.startsWith('/')) {
        this.error('GV_ERR_CONFIG_HEALTHCHECK', `a healthcheck path must start with "/", not ${JSON.stringify(v.value)}`, v.pos);
        return undefined;
      }
      return { config: { type: 'http', ...base, path: v.value }, options: { path: v.value } };
    }
    if (v.kind !== 'map') {
      this.error('GV_ERR_CONFIG_TYPE', `"healthcheck" must be a path ("/health") or a block with a type, not ${describeRaw(v)}`, v.pos);
      return undefined;
    }
    const typeE = getEntry(v, 'type');
    const type = typeE ? this.nonEmpty(typeE.value, 'healthcheck.type') : 'http';
    if (type === undefined) return undefined;
    const intervalE = getEntry(v, 'interval');
    const timeoutE = getEntry(v, 'timeout');
    const thresholdE = getEntry(v, 'unhealthy_threshold');
    const interval = intervalE ? this.duration(intervalE.value, 'healthcheck.interval', { min: 1 }) : base.interval;
    const timeout = timeoutE ? this.duration(timeoutE.value, 'healthcheck.timeout', { min: 1 }) : base.timeout;
    const threshold = thresholdE ? this.integer(thresholdE.value, 'healthcheck.unhealthy_threshold', 1, 1000) : base.unhealthy_threshold;
    const options: Record<string, unknown> = {};
    for (const entry of [...v.entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
      if (!HEALTHCHECK_COMMON_KEYS.includes(entry.key)) options[entry.key] = rawToPlain(entry.value);
    }
    const path = getEntry(v, 'path');
    if (type === 'http' && path && !(path.value.kind === 'scalar' && typeof path.value.value === 'string' && path.value.value.startsWith('/'))) {
      this.error('GV_ERR_CONFIG_HEALTHCHECK', 'an http healthcheck "path" must be a string starting with "/"', path.value.pos);
      return undefined;
    }
    if (interval == null || timeout == null || threshold === undefined) return undefined;
    return { config: { type, interval, timeout, unhealthy_threshold: threshold, ...options }, options };
  }

  appLogger(e: RawEntry | undefined, g: LoggerConfig, name: string, appPos: SourcePosition): AppLoggerConfig {
    const out: LoggerConfig = { log_dir: g.log_dir, log_file: null, max_log_size: g.max_log_size, max_logs_kept: g.max_logs_kept, max_log_age: g.max_log_age };
    let stdout: string | undefined;
    let stderr: string | undefined;
    const m = e ? this.map(e.value, 'logger', appPos) : undefined;
    if (m) {
      this.checkKeys(m, APP_LOGGER_KEYS, 'an app\'s "logger"');
      this.#loggerCommon(m, out);
      const get = (k: string): string | undefined => {
        const x = getEntry(m, k);
        return x ? this.path(x.value, `logger.${k}`) : undefined;
      };
      out.log_file = get('log_file') ?? null;
      stdout = get('stdout_log_file');
      stderr = get('stderr_log_file');
    }
    return {
      ...out,
      stdout_log_file: stdout ?? out.log_file ?? join(out.log_dir, `app_${name}.out`),
      stderr_log_file: stderr ?? out.log_file ?? join(out.log_dir, `app_${name}.err`),
    };
  }

  /** Hand the plugin specs to the loader; what it throws becomes GV_ERR_CONFIG_PLUGIN_LOAD at the entry. */
  async loadPlugins(load: (specs: PluginLoadSpec[]) => Promise<void>, specs: PluginLoadSpec[]): Promise<void> {
    try {
      await load(specs);
    } catch (err) {
      const list = err instanceof GvConfigError ? err.errors : [err];
      for (const one of list) {
        const gv = one instanceof GvError ? one : undefined;
        const spec = gv?.details?.spec;
        const pos = gv?.pos ?? specs.find((s) => s.spec === spec)?.pos ?? specs[0]!.pos;
        const message = one instanceof Error ? one.message : String(one);
        this.#errors.push(new GvError('GV_ERR_CONFIG_PLUGIN_LOAD', message, { pos, cause: one, details: { ...(gv?.details ?? {}), ...(gv && gv.code !== 'GV_ERR_CONFIG_PLUGIN_LOAD' ? { code: gv.code } : {}) } }));
      }
    }
  }

  /** The engine and healthcheck type against the registry (or the built-in names without one). */
  checkRegistry(d: DeferredApp, registry: ConfigRegistryView | undefined): void {
    const { app } = d;
    if (registry) {
      const engine = registry.engine(app.proxy);
      if (!engine) {
        this.error('GV_ERR_CONFIG_ENGINE_UNKNOWN', `app ${app.name}: no engine "${app.proxy}" is registered`, d.proxyPos, { engine: app.proxy });
      } else if (!engine.available) {
        this.error('GV_ERR_CONFIG_ENGINE_UNAVAILABLE', `app ${app.name}: engine "${app.proxy}" is not available here: ${engine.reason ?? 'no reason given'}`, d.proxyPos, {
          engine: app.proxy,
          reason: engine.reason,
        });
      }
    } else if (!BUILTIN_ENGINES.includes(app.proxy)) {
      this.error('GV_ERR_CONFIG_ENGINE_UNKNOWN', `app ${app.name}: unknown proxy "${app.proxy}" (built in: ${BUILTIN_ENGINES.join(', ')})`, d.proxyPos, {
        engine: app.proxy,
        suggestion: suggest(app.proxy, BUILTIN_ENGINES),
      });
    }
    const hc = d.healthcheck;
    if (!hc || !app.healthcheck) return;
    if (!registry) {
      if (!BUILTIN_HEALTHCHECKS.includes(hc.type)) {
        this.error('GV_ERR_CONFIG_HEALTHCHECK', `app ${app.name}: unknown healthcheck type "${hc.type}" (built in: ${BUILTIN_HEALTHCHECKS.join(', ')})`, hc.keyPos, {
          type: hc.type,
          suggestion: suggest(hc.type, BUILTIN_HEALTHCHECKS),
        });
      }
      return;
    }
    const def = registry.healthcheck(hc.type);
    if (!def) {
      this.error('GV_ERR_CONFIG_HEALTHCHECK', `app ${app.name}: no healthcheck type "${hc.type}" is registered`, hc.keyPos, { type: hc.type });
      return;
    }
    if (!def.parse) return;
    try {
      const parsed = def.parse({ ...hc.options }, hc.keyPos);
      const { type, interval, timeout, unhealthy_threshold } = app.healthcheck;
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(parsed).sort()) if (!HEALTHCHECK_COMMON_KEYS.includes(k)) sorted[k] = parsed[k];
      app.healthcheck = { type, interval, timeout, unhealthy_threshold, ...sorted };
    } catch (err) {
      const gv = err instanceof GvError ? err : undefined;
      this.error('GV_ERR_CONFIG_HEALTHCHECK', `app ${app.name}: healthcheck ${hc.type}: ${err instanceof Error ? err.message : String(err)}`, gv?.pos ?? hc.keyPos, {
        type: hc.type,
        ...(gv?.details ?? {}),
      });
    }
  }

  /** Unique app names, and no two apps on one external host:port. */
  checkUnique(apps: DeferredApp[]): void {
    const byName = new Map<string, AppConfig>();
    const byListen: AppConfig[] = [];
    for (const { app, map } of apps) {
      const first = byName.get(app.name);
      if (first) {
        this.error('GV_ERR_CONFIG_DUPLICATE_APP', `app "${app.name}" is defined twice (first at ${fmt(first.source)})`, getEntry(map, 'name')?.value.pos ?? app.source, {
          name: app.name,
          first: first.source,
        });
        continue;
      }
      byName.set(app.name, app);
      const clash = byListen.find((o) => o.external_port === app.external_port && sameHost(o.external_host, app.external_host));
      if (clash) {
        const pos = getEntry(map, 'external_port')?.value.pos ?? getEntry(map, 'external_host')?.value.pos ?? app.source;
        this.error('GV_ERR_CONFIG_DUPLICATE_LISTEN', `app "${app.name}" listens on ${app.external_host}:${app.external_port} like app "${clash.name}" (at ${fmt(clash.source)})`, pos, {
          app: app.name,
          other: clash.name,
          host: app.external_host,
          port: app.external_port,
        });
        continue;
      }
      byListen.push(app);
    }
  }
}

function fmt(p: SourcePosition): string {
  return `${p.file}:${p.line}:${p.col}`;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '*', '[::]']);

/** Two listen hosts collide when equal (case-insensitive) or when either is a wildcard address. */
function sameHost(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || WILDCARDS.has(a) || WILDCARDS.has(b);
}

/** Freeze an object graph in place (the resolved config is shared read-only by every part). */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
