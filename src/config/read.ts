/**
 * Phase 1 of loading (docs/architecture.md "Config"): read the config file and its includes, with the
 * bounds of ./files.ts, and resolve them (./resolve.ts). No plugins, no registry. The daemon runs
 * this in a worker thread (./bounded-read.ts) so that no input can exhaust the serving process.
 */
import { stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { GvConfigError, GvError, type SourcePosition } from '../errors.js';
import type { RuntimeInfo } from './defaults.js';
import { loadDslMain } from './dsl-loader.js';
import { readConfigFile } from './files.js';
import { expandIncludes, includeContext, includeEntries, loadAppSource, realOrSelf, syntaxOf } from './includes.js';
import type { AppConfig, LoggerConfig, UserConfig } from './model.js';
import { getEntry, type RawMap } from './raw.js';
import { resolveAppConfig, resolveConfig, type ConfigDraft } from './resolve.js';
import type { AppSources } from './sections/app.js';
import { sortErrors } from './sort-errors.js';
import { loadYaml } from './yaml-loader.js';

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
    return await readConfigFile(file);
  } catch (err) {
    throw new GvConfigError([GvError.from(err)]);
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
  const includedApps = await expandIncludes(includeEntries(getEntry(root, 'apps_include')?.value), [await realOrSelf(file)], includeContext(errors));
  const draft = resolveConfig({ file, root, includedApps, errors }, opts.runtime);
  draft.warnings.push(...(await directoryWarnings(draft.config.apps, draft.sources.apps.map((s) => s.directory))));
  return draft;
}

/**
 * A `directory` that does not exist (or is not a folder) is a warning, as `nginx -t` warns: it may
 * be created before the app starts, and if it is not, the start fails with GV_ERR_SPAWN.
 */
async function directoryWarnings(apps: readonly AppConfig[], positions: readonly (SourcePosition | null)[]): Promise<GvError[]> {
  const out: GvError[] = [];
  for (let i = 0; i < apps.length; i++) {
    const dir = apps[i]!.directory;
    if (dir === null) continue;
    const st = await stat(dir).catch(() => null);
    if (st?.isDirectory()) continue;
    out.push(new GvError('GV_ERR_CONFIG_DIRECTORY', `app ${apps[i]!.name}: directory ${dir} ${st ? 'is not a folder' : 'does not exist'} (yet); its instances cannot start until it does`, {
      ...(positions[i] && { pos: positions[i]! }),
      details: { app: apps[i]!.name, directory: dir },
    }));
  }
  return out;
}


/** What an app file inherits: the running config's global logger and user. */
export interface AppBase {
  logger: LoggerConfig;
  user: UserConfig | null;
}

/** Phase 1 of one app file: the app (null when it did not resolve), where it was written, and every problem. */
export interface AppDraft {
  app: AppConfig | null;
  sources: AppSources | null;
  errors: GvError[];
}

/** Phase 1 of an app file (`gracevisorctl add FILE`): exactly one app, inheriting from `base`. */
export async function readAppFile(path: string, base: AppBase | null): Promise<AppDraft> {
  const file = resolvePath(path);
  if (!(await stat(file).catch(() => null))?.isFile()) {
    return { app: null, sources: null, errors: [new GvError('GV_ERR_CONFIG_NOT_FOUND', `no app file at ${file}`, { details: { path: file } })] };
  }
  const errors: GvError[] = [];
  const apps = await loadAppSource(file, [await realOrSelf(file)], includeContext(errors));
  if (apps.length !== 1) {
    if (errors.length === 0) {
      errors.push(new GvError('GV_ERR_CONFIG_TYPE', `an app file must define exactly one app, not ${apps.length}`, { pos: { file, line: 1, col: 1 }, details: { count: apps.length } }));
    }
    return { app: null, sources: null, errors };
  }
  return resolveAppConfig(apps[0]!, base, errors);
}
