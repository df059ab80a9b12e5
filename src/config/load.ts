/**
 * Loading a configuration from disk: the entry points the daemon, `--check`, `reload` and
 * `gracevisorctl add` call. Picks the file (a directory holds gracevisor.conf, else gracevisor.yaml,
 * else gracevisor.yml), parses it by extension (`.conf` = block DSL, otherwise YAML), expands
 * includes, and hands the raw trees to the one resolver (./resolve.ts).
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { GvConfigError, GvError, type SourcePosition } from '../errors.js';
import { loadDslMain } from './dsl-loader.js';
import { expandIncludes, includeEntries, loadAppSource, realOrSelf, syntaxOf } from './includes.js';
import type { AppConfig, Config, LoggerConfig, UserConfig } from './model.js';
import { getEntry, type RawMap } from './raw.js';
import type { RuntimeInfo } from './defaults.js';
import { resolveAppConfig, resolveConfig } from './resolve.js';
import { loadYaml } from './yaml-loader.js';

/**
 * What the config layer needs to know about registered plugins, without depending on the registry
 * itself: whether an engine exists and is usable here, and a healthcheck type's option parser.
 */
export interface ConfigRegistryView {
  /** The engine registered as `engines.<name>`, or undefined when none is. */
  engine(name: string): { available: boolean; reason: string | null } | undefined;
  /** The healthcheck type registered as `healthchecks.<type>`, or undefined when none is. */
  healthcheck(type: string): { parse?(options: Record<string, unknown>, pos: SourcePosition): Record<string, unknown> } | undefined;
}

/** One `plugins` entry after path resolution: an absolute path or a package name, and where it was written. */
export interface PluginLoadSpec {
  spec: string;
  pos: SourcePosition;
}

/** Options of {@link loadConfig} and {@link loadAppFile}. */
export interface LoadOptions {
  /**
   * Checks engines (`proxy`) and healthcheck types against what is registered. Without it only the
   * built-in names pass (engines http, tcp, splice; healthchecks http, tcp, exec).
   */
  registry?: ConfigRegistryView;
  /**
   * Called once with every `plugins` entry, in order, before engines and healthcheck types are
   * checked, so that plugin-provided types validate. Errors it throws (a GvConfigError of per-spec
   * GvErrors, or any error) become GV_ERR_CONFIG_PLUGIN_LOAD at the entry's position.
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
 * Load, resolve and freeze the configuration at `path` (a file or a directory). Throws a
 * GvConfigError listing every problem, each with its `file:line:col`; nothing else happens then.
 */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<Config> {
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
  if (!root) throw new GvConfigError(errors);
  const includedApps = await expandIncludes(includeEntries(getEntry(root, 'apps_include')?.value), [await realOrSelf(file)], errors);
  return resolveConfig({ file, root, includedApps, errors }, opts);
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
    throw new GvConfigError(errors);
  }
  return resolveAppConfig(apps[0]!, opts.base ?? null, { ...opts, errors });
}
