/**
 * The one resolver (phase 1 of loading, docs/architecture.md "Config"): raw trees from either
 * syntax to the frozen `Config` of ./model.ts. It applies the original README's defaults, inherits
 * `logger` and `user` into apps, resolves relative paths against the file that names them, checks
 * types and ranges, rejects unknown keys with a suggestion, and collects every problem. It is pure:
 * no files, no plugins, no registry. What can only be checked against registered plugins (engine
 * names, a check type's options) is left for ./validate.ts, with the positions it needs.
 */
import { GvError, type SourcePosition } from '../errors.js';
import { currentRuntime, defaultRunDir, type RuntimeInfo } from './defaults.js';
import type { AppConfig, Config, LoggerConfig, UserConfig } from './model.js';
import { describeRaw, getEntry, type RawMap, type RawValue } from './raw.js';
import { isNull, Reader } from './reader.js';
import { readAlerts, type AlertRead } from './sections/alerts.js';
import { readApp, type AppRead, type AppSources } from './sections/app.js';
import { readMetrics } from './sections/metrics.js';
import { readWeb } from './sections/web.js';
import { readGlobalLogger } from './sections/logger.js';
import { readPlugins, type PluginLoadSpec } from './sections/plugins.js';
import { readPortRange } from './sections/port-range.js';
import { readRpc } from './sections/rpc.js';
import { readUser } from './sections/user.js';

/** The top-level keys. */
export const TOP_KEYS: readonly string[] = ['port_range', 'rpc', 'logger', 'user', 'apps_include', 'apps', 'plugins', 'run_dir', 'max_connections', 'alerts', 'metrics', 'web'];

/** The resolver's input: the main file's tree, and the app mappings its includes contributed. */
export interface ResolveInput {
  /** Absolute path of the main config file. */
  file: string;
  root: RawMap;
  includedApps: RawMap[];
  /** Problems already found while loading (syntax, includes); reported with the resolver's own. */
  errors?: GvError[];
}

/** Where the parts of a resolved config were written: what the later phases need to place their errors. */
export interface ConfigSources {
  /** The `plugins` entries, in order. */
  plugins: PluginLoadSpec[];
  /** The global alert routes, for their types' parsers. */
  alerts: AlertRead[];
  /** One per app of `config.apps`, in the same order. */
  apps: AppSources[];
}

/**
 * What phase 1 produced: the config (frozen; only apps that resolved), where its parts came from,
 * and every problem found. A draft with errors must not be used; the later phases add their own
 * problems to it so that all are reported together.
 */
export interface ConfigDraft {
  config: Config;
  sources: ConfigSources;
  errors: GvError[];
  /** What is suspicious but not wrong (a `directory` that does not exist yet): reported, not refused. */
  warnings: GvError[];
}

/** Resolve a whole config. Never throws for a problem in the config: problems are in `errors`. */
export function resolveConfig(input: ResolveInput, runtime: RuntimeInfo = currentRuntime()): ConfigDraft {
  const r = new Reader(input.errors ?? []);
  const root = input.root;
  r.checkKeys(root, TOP_KEYS, 'the top level');

  const port_range = readPortRange(r, getEntry(root, 'port_range'));
  const run_dir = r.path(getEntry(root, 'run_dir')?.value) ?? defaultRunDir(runtime);
  const rpc = readRpc(r, getEntry(root, 'rpc'), run_dir);
  const logger = readGlobalLogger(r, getEntry(root, 'logger')?.value, input.file);
  const userEntry = getEntry(root, 'user');
  const user = userEntry ? readUser(r, userEntry.value) : null;
  const plugins = readPlugins(r, getEntry(root, 'plugins')?.value);
  const alertsE = getEntry(root, 'alerts');
  const alerts = alertsE ? readAlerts(r, alertsE.value, 'at the top level') : [];
  const metrics = readMetrics(r, getEntry(root, 'metrics'));
  const maxConnE = getEntry(root, 'max_connections');
  const max_connections = maxConnE && !isNull(maxConnE.value) ? (r.integer(maxConnE.value, 'max_connections', 1, 10_000_000) ?? null) : null;
  const includeEntry = getEntry(root, 'apps_include');
  if (includeEntry) r.stringList(includeEntry.value, 'apps_include');

  const appMaps: RawMap[] = [];
  const appsEntry = getEntry(root, 'apps');
  if (appsEntry && !isNull(appsEntry.value)) {
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

  const apps: AppRead[] = [];
  const ports = port_range.to - port_range.from + 1;
  for (const map of appMaps) {
    const a = readApp(r, map, { logger, user, ports });
    if (a) apps.push(a);
  }
  checkUnique(r, apps);
  const web = readWeb(r, getEntry(root, 'web'), [
    ...apps.map((a) => ({ what: `app "${a.config.name}"`, host: a.config.external_host, port: a.config.external_port })),
    ...(metrics.listen ? [{ what: '"metrics.listen"', ...metrics.listen }] : []),
    ...(rpc.host !== null && rpc.port !== null ? [{ what: 'the control API ("rpc")', host: rpc.host, port: rpc.port }] : []),
  ]);

  const config: Config = {
    file: input.file,
    port_range,
    rpc,
    run_dir,
    logger,
    user,
    plugins: plugins.map((p) => p.spec),
    max_connections,
    alerts: alerts.map((a) => a.config),
    metrics,
    web,
    apps: apps.map((a) => a.config),
  };
  return { config: deepFreeze(config), sources: { plugins, alerts, apps: apps.map((a) => a.sources) }, errors: r.errors, warnings: [] };
}

/** One app as phase 1 resolves it (for `gracevisorctl add FILE`), inheriting from `base` (the running config). */
export function resolveAppConfig(map: RawMap, base: { logger: LoggerConfig; user: UserConfig | null } | null, errors: GvError[] = []): { app: AppConfig | null; sources: AppSources | null; errors: GvError[] } {
  const r = new Reader(errors);
  const logger = base?.logger ?? readGlobalLogger(r, undefined, map.pos.file);
  const a = readApp(r, map, { logger, user: base?.user ?? null });
  return { app: a ? deepFreeze(a.config) : null, sources: a?.sources ?? null, errors: r.errors };
}

/**
 * Unique app names, and no two apps on one external host:port (a wildcard host clashes with every
 * host on its port). One pass with maps keyed by name and by port: linear in the number of apps.
 */
function checkUnique(r: Reader, apps: AppRead[]): void {
  const byName = new Map<string, AppConfig>();
  /** Per port: the apps on it by lowercased host, and the first on a wildcard host. */
  const byPort = new Map<number, { hosts: Map<string, AppConfig>; wildcard: AppConfig | null }>();
  for (const { config: app, sources } of apps) {
    const first = byName.get(app.name);
    if (first) {
      r.error('GV_ERR_CONFIG_DUPLICATE_APP', `app "${app.name}" is defined twice (first at ${fmt(first.source)})`, sources.name, { name: app.name, first: first.source });
      continue;
    }
    byName.set(app.name, app);
    let port = byPort.get(app.external_port);
    if (!port) {
      port = { hosts: new Map(), wildcard: null };
      byPort.set(app.external_port, port);
    }
    const host = app.external_host.toLowerCase();
    const wild = WILDCARDS.has(host);
    const clash = port.wildcard ?? (wild ? port.hosts.values().next().value : port.hosts.get(host)) ?? null;
    if (clash) {
      r.error('GV_ERR_CONFIG_DUPLICATE_LISTEN', `app "${app.name}" listens on ${app.external_host}:${app.external_port} like app "${clash.name}" (at ${fmt(clash.source)})`, sources.listen, {
        app: app.name,
        other: clash.name,
        host: app.external_host,
        port: app.external_port,
      });
      continue;
    }
    if (wild) port.wildcard = app;
    else port.hosts.set(host, app);
  }
}

function fmt(p: SourcePosition): string {
  return `${p.file}:${p.line}:${p.col}`;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '*', '[::]']);

/** Freeze an object graph in place (the resolved config is shared read-only by every part). */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
