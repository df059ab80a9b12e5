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
import { readFile, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { GvConfigError, GvError, type SourcePosition } from '../errors.js';
import { loadDslMain } from './dsl-loader.js';
import { expandIncludes, includeEntries, loadAppSource, realOrSelf, syntaxOf } from './includes.js';
import type { AppConfig, Config, LoggerConfig, UserConfig } from './model.js';
import { getEntry, type RawMap } from './raw.js';
import type { RuntimeInfo } from './defaults.js';
import { resolveAppConfig, resolveConfig, type ConfigDraft } from './resolve.js';
import type { PluginLoadSpec } from './sections/plugins.js';
import { validateApp, validateConfig, type ConfigRegistryView } from './validate.js';
import { loadYaml } from './yaml-loader.js';

export type { ConfigRegistryView } from './validate.js';
export type { PluginLoadSpec } from './sections/plugins.js';

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
}

/** File names looked for, in order, when `--conf` names a directory. */
export const CONFIG_FILE_NAMES: readonly string[] = ['gracevisor.conf', 'gracevisor.yaml', 'gracevisor.yml'];

/**
 * The config file `path` means: the file itself, or the first of {@link CONFIG_FILE_NAMES} in the
 * directory. Throws GvConfigError(GV_ERR_CONFIG_NOT_FOUND).
 */
export async function findConfigFile(path: string): Promise<string> {
  const abs = resolvePath(path);
  const st = await stat(abs).catch(() => null);
  if (!st) throw new GvConfigError([new GvError('GV_ERR_CONFIG_NOT_FOUND', `no config file or folder at ${abs}`, { details: { path: abs } })]);
  if (!st.isDirectory()) return abs;
  for (const name of CONFIG_FILE_NAMES) {
    const file = join(abs, name);
    if ((await stat(file).catch(() => null))?.isFile()) return file;
  }
  throw new GvConfigError([new GvError('GV_ERR_CONFIG_NOT_FOUND', `no ${CONFIG_FILE_NAMES.join(', ')} in ${abs}`, { details: { path: abs } })]);
}

async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GvConfigError([
      new GvError(code === 'ENOENT' ? 'GV_ERR_CONFIG_NOT_FOUND' : 'GV_ERR_CONFIG_READ', `cannot read ${file}: ${(err as Error).message}`, { details: { path: file } }),
    ]);
  }
}

/**
 * Phase 1: read the config at `path` (a file or a directory) with its includes and resolve it. A
 * problem in the config is in the draft's `errors`; only a missing or unreadable main file, or a
 * main file that does not parse at all, throws (a GvConfigError).
 */
export async function readConfig(path: string, opts: { runtime?: RuntimeInfo } = {}): Promise<ConfigDraft> {
  const file = await findConfigFile(path);
  const text = await readConfigText(file);
  const errors: GvError[] = [];
  let root: RawMap | null = null;
  if (syntaxOf(file) === 'dsl') {
    const res = loadDslMain(text, file);
    errors.push(...res.errors);
    root = res.value;
  } else {
    const res = loadYaml(text, file);
    errors.push(...res.errors);
    if (res.value && res.value.kind !== 'map') {
      errors.push(new GvError('GV_ERR_CONFIG_TYPE', 'the config must be a mapping of keys at the top level', { pos: res.value.pos }));
    } else if (res.value) {
      root = res.value;
    }
  }
  if (!root) throw new GvConfigError(sortErrors(errors, file));
  const includedApps = await expandIncludes(includeEntries(getEntry(root, 'apps_include')?.value), [await realOrSelf(file)], errors);
  return resolveConfig({ file, root, includedApps, errors }, opts.runtime);
}

/**
 * Load, resolve, load the plugins of and validate the configuration at `path`. Throws a
 * GvConfigError listing every problem, sorted by file, line and column; nothing else happens then.
 */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<Config> {
  return finishConfig(await readConfig(path, opts), opts);
}

/**
 * Phases 2 and 3 of a draft from {@link readConfig} (or from a worker that ran phase 1): throws a
 * GvConfigError with the draft's problems and every new one, or returns the frozen Config.
 */
export async function finishConfig(draft: ConfigDraft, opts: LoadOptions = {}): Promise<Config> {
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
export async function loadAppFile(path: string, opts: LoadOptions & { base?: { logger: LoggerConfig; user: UserConfig | null } } = {}): Promise<AppConfig> {
  const file = resolvePath(path);
  if (!(await stat(file).catch(() => null))?.isFile()) {
    throw new GvConfigError([new GvError('GV_ERR_CONFIG_NOT_FOUND', `no app file at ${file}`, { details: { path: file } })]);
  }
  const errors: GvError[] = [];
  const apps = await loadAppSource(file, [await realOrSelf(file)], errors);
  if (apps.length !== 1) {
    if (errors.length === 0) {
      errors.push(new GvError('GV_ERR_CONFIG_TYPE', `an app file must define exactly one app, not ${apps.length}`, { pos: { file, line: 1, col: 1 }, details: { count: apps.length } }));
    }
    throw new GvConfigError(sortErrors(errors, file));
  }
  const r = resolveAppConfig(apps[0]!, opts.base ?? null, errors);
  let app = r.app;
  if (app && r.sources && opts.registry) app = validateApp(app, r.sources, opts.registry, r.errors);
  if (r.errors.length > 0 || !app) throw new GvConfigError(sortErrors(r.errors, file));
  return app;
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

/**
 * Problems in reading order: the main file first, then the others by path; within a file by line
 * and column. Problems without a position come first, as they are about the whole load.
 */
export function sortErrors(errors: readonly GvError[], mainFile: string): GvError[] {
  const rank = (p: SourcePosition | undefined): [number, string, number, number] => (p ? [p.file === mainFile ? 1 : 2, p.file, p.line, p.col] : [0, '', 0, 0]);
  return errors
    .map((e, i) => ({ e, i, k: rank(e.pos) }))
    .sort((a, b) => a.k[0] - b.k[0] || (a.k[1] < b.k[1] ? -1 : a.k[1] > b.k[1] ? 1 : 0) || a.k[2] - b.k[2] || a.k[3] - b.k[3] || a.i - b.i)
    .map((x) => x.e);
}
