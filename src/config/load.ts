/**
 * Loading a configuration from disk, in the three phases of docs/architecture.md "Config":
 *
 *   1. read + resolve: pick the file (a folder holds gracevisor.conf, else gracevisor.yaml, else
 *      gracevisor.yml), parse it by extension (`.conf` = block DSL, otherwise YAML), expand includes,
 *      and resolve (./resolve.ts) to a frozen model. No plugins, no registry: {@link readConfig}.
 *   2. load the plugins the model names (the caller's `loadPlugins`, since plugins belong to
 *      whoever holds the registry).
 *   3. validate against the registry (./validate.ts).
 *
 * {@link loadConfig} runs all three and reports every problem of every phase at once, sorted by
 * file, line and column. The daemon, `--check`, `reload` and `gracevisorctl add` call it.
 */
import { resolve as resolvePath } from 'node:path';
import { GvConfigError, GvError } from '../errors.js';
import { readAppFileBounded, readConfigBounded, type ReadBounds } from './bounded-read.js';
import type { AppConfig, Config } from './model.js';
import type { RuntimeInfo } from './defaults.js';
import { readAppFile, readConfig, type AppBase } from './read.js';
import { deepFreeze, type ConfigDraft } from './resolve.js';
import type { PluginLoadSpec } from './sections/plugins.js';
import { sortErrors } from './sort-errors.js';
import { validateApp, validateConfig, type ConfigRegistryView } from './validate.js';

export type { ConfigRegistryView } from './validate.js';
export type { PluginLoadSpec } from './sections/plugins.js';
export { CONFIG_FILE_NAMES, findConfigFile, readAppFile, readConfig, type AppBase } from './read.js';
export { DEFAULT_READ_BOUNDS, type ReadBounds } from './bounded-read.js';
export { sortErrors } from './sort-errors.js';

/** Options of {@link loadConfig} and {@link loadAppFile}. */
export interface LoadOptions {
  /**
   * What phase 3 checks engines (`proxy`) and health check types against. Without it nothing is
   * checked against plugins: what a client that only needs the control socket's path wants.
   */
  registry?: ConfigRegistryView;
  /**
   * Phase 2: called once with every `plugins` entry, in order, before phase 3, so that
   * plugin-provided types validate. What it throws (a GvConfigError of per-spec GvErrors, or any
   * error) becomes GV_ERR_CONFIG_PLUGIN_LOAD at the entry's position.
   */
  loadPlugins?: (specs: PluginLoadSpec[]) => Promise<void>;
  /** The uid and environment that pick run_dir's default; the current process's by default. */
  runtime?: RuntimeInfo;
  /**
   * Phase 1's bounds: when given, it runs in a worker thread with this much memory and time (the
   * daemon, `--check` and gracevisorctl pass {@link DEFAULT_READ_BOUNDS}), so that no input can
   * exhaust this process. Without it phase 1 runs in this thread, bounded only by the loaders' own
   * limits (file size and count, nesting, alias expansion).
   */
  bounds?: ReadBounds;
  /** Hears what is suspicious but not wrong (GV_ERR_CONFIG_DIRECTORY); the load goes on. */
  onWarning?: (warning: GvError) => void;
}

/**
 * Load, resolve, load the plugins of and validate the configuration at `path`. Throws a
 * GvConfigError listing every problem, sorted by file, line and column; nothing else happens then.
 */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<Config> {
  const runtime = opts.runtime ? { runtime: opts.runtime } : {};
  const draft = opts.bounds ? await readConfigBounded(path, { ...runtime, bounds: opts.bounds }) : await readConfig(path, runtime);
  return finishConfig(draft, opts);
}

/**
 * Phases 2 and 3 of a draft from {@link readConfig} (or from a worker that ran phase 1): throws a
 * GvConfigError with the draft's problems and every new one, or returns the frozen Config.
 */
export async function finishConfig(draft: ConfigDraft, opts: LoadOptions = {}): Promise<Config> {
  for (const w of draft.warnings) opts.onWarning?.(w);
  const errors = [...draft.errors];
  const specs = draft.sources.plugins;
  if (opts.loadPlugins && specs.length > 0) errors.push(...(await pluginErrors(opts.loadPlugins, specs)));
  let done: ConfigDraft = { ...draft, errors };
  if (opts.registry) done = validateConfig(done, opts.registry);
  if (done.errors.length > 0) throw new GvConfigError(sortErrors(done.errors, draft.config.file));
  return done.config;
}

/**
 * Load one app file (either syntax; what `gracevisorctl add FILE` sends) and resolve it the way an
 * included app is, inheriting `logger` and `user` from `base` (the running config) when given.
 * The file must define exactly one app. Throws a GvConfigError.
 */
export async function loadAppFile(path: string, opts: LoadOptions & { base?: AppBase } = {}): Promise<AppConfig> {
  const base = opts.base ?? null;
  const r = opts.bounds ? await readAppFileBounded(path, base, { bounds: opts.bounds }) : await readAppFile(path, base);
  let app = r.app;
  const errors = [...r.errors];
  if (app && r.sources && opts.registry) app = validateApp(app, r.sources, opts.registry, errors);
  if (errors.length > 0 || !app) throw new GvConfigError(sortErrors(errors, resolvePath(path)));
  return deepFreeze(app);
}

/** Phase 2: hand the specs to the loader; what it throws becomes GV_ERR_CONFIG_PLUGIN_LOAD at the entry. */
async function pluginErrors(load: (specs: PluginLoadSpec[]) => Promise<void>, specs: PluginLoadSpec[]): Promise<GvError[]> {
  try {
    await load(specs);
    return [];
  } catch (err) {
    const list = err instanceof GvConfigError ? err.errors : [err];
    return list.map((one) => {
      const gv = one instanceof GvError ? one : undefined;
      const spec = gv?.details?.spec;
      const pos = gv?.pos ?? specs.find((s) => s.spec === spec)?.pos ?? specs[0]!.pos;
      const message = one instanceof Error ? one.message : String(one);
      return new GvError('GV_ERR_CONFIG_PLUGIN_LOAD', message, { pos, cause: one, details: { ...(gv?.details ?? {}), ...(gv && gv.code !== 'GV_ERR_CONFIG_PLUGIN_LOAD' ? { code: gv.code } : {}) } });
    });
  }
}
