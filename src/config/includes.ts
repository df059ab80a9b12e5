/**
 * App files: reading one (either syntax) and expanding `apps_include` / `include` entries into the
 * app mappings they contribute. Files, folders and globs are accepted; relative paths resolve against
 * the directory of the file that names them; a folder or glob skips files already being loaded (the
 * main config beside its own `apps_include: ["../conf"]`); naming such a file explicitly is a cycle.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import fg from 'fast-glob';
import { GvError, type SourcePosition } from '../errors.js';
import { loadDslAppFile } from './dsl-loader.js';
import { FileBudget, MAX_CONFIG_FILES, readConfigFile } from './files.js';
import type { RawMap, RawScalar, RawValue } from './raw.js';
import { loadYaml } from './yaml-loader.js';

/** Extensions a folder or glob include picks up. */
export const APP_FILE_EXTENSIONS: readonly string[] = ['.yaml', '.yml', '.conf'];

/** The syntax of a file by its extension: `.conf` is the block DSL, anything else YAML (the original format). */
export function syntaxOf(file: string): 'dsl' | 'yaml' {
  return extname(file).toLowerCase() === '.conf' ? 'dsl' : 'yaml';
}

/** The realpath of `file`, or its absolute path when it cannot be resolved. */
export async function realOrSelf(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    return resolvePath(file);
  }
}

/** The include entries of a main tree's `apps_include` value (non-strings are left to the resolver to report). */
export function includeEntries(v: RawValue | undefined): RawScalar[] {
  if (!v) return [];
  const items = v.kind === 'list' ? v.items : [v];
  return items.filter((i): i is RawScalar => i.kind === 'scalar' && typeof i.value === 'string' && i.value !== '');
}

/** What one load's include expansion shares: the problems found, and the files it may still read. */
export interface IncludeContext {
  errors: GvError[];
  budget: FileBudget;
}

/** A fresh context for one load, with `errors` as its problem list. */
export function includeContext(errors: GvError[]): IncludeContext {
  return { errors, budget: new FileBudget() };
}

/**
 * Expand include entries into app mappings, in order. `stack` holds the realpaths of the files being
 * loaded (the main file first). Problems go to `ctx.errors`; what loads is returned all the same.
 */
export async function expandIncludes(entries: RawScalar[], stack: string[], ctx: IncludeContext): Promise<RawMap[]> {
  const errors = ctx.errors;
  const apps: RawMap[] = [];
  for (const entry of entries) {
    const spec = String(entry.value);
    const base = dirname(entry.pos.file);
    let files: string[];
    if (fg.isDynamicPattern(spec)) {
      const pattern = isAbsolute(spec) ? spec : `${fg.convertPathToPattern(base)}/${spec}`;
      let matched: string[];
      try {
        matched = await fg(pattern, { absolute: true, onlyFiles: true });
      } catch (err) {
        // An unreadable folder on the way (EACCES) is the glob's problem, reported where it is written.
        const e = err as NodeJS.ErrnoException;
        errors.push(new GvError('GV_ERR_CONFIG_READ', `include ${JSON.stringify(spec)} cannot be expanded: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '), { pos: entry.pos, details: { path: e.path ?? null, code: e.code ?? null } }));
        continue;
      }
      files = await skipLoading(matched.filter(isAppFile).sort(), stack);
    } else {
      const target = resolvePath(base, spec);
      let st;
      try {
        st = await stat(target);
      } catch {
        errors.push(new GvError('GV_ERR_CONFIG_INCLUDE_MISSING', `included path ${JSON.stringify(spec)} does not exist (${target})`, { pos: entry.pos, details: { path: target } }));
        continue;
      }
      if (st.isDirectory()) {
        const names = (await readdir(target)).filter(isAppFile).sort();
        const inDir: string[] = [];
        for (const n of names) {
          const full = join(target, n);
          if ((await stat(full).catch(() => null))?.isFile()) inDir.push(full);
        }
        files = await skipLoading(inDir, stack);
      } else {
        const real = await realOrSelf(target);
        if (stack.includes(real)) {
          errors.push(new GvError('GV_ERR_CONFIG_INCLUDE_CYCLE', `including ${JSON.stringify(spec)} makes a cycle: ${[...stack, real].join(' -> ')}`, {
            pos: entry.pos,
            details: { chain: [...stack, real] },
          }));
          continue;
        }
        files = [target];
      }
    }
    for (const file of files) {
      if (!ctx.budget.take()) {
        errors.push(new GvError('GV_ERR_CONFIG_LIMIT', `include ${JSON.stringify(spec)} would read more than ${MAX_CONFIG_FILES} config files`, { pos: entry.pos, details: { limit: 'files', max: MAX_CONFIG_FILES } }));
        return apps;
      }
      apps.push(...(await loadAppSource(file, stack, ctx, entry.pos)));
    }
  }
  return apps;
}

/**
 * Read one app file and return the app mappings it defines (following its own includes, for the
 * DSL). A YAML app file is one mapping; a DSL one holds `app` blocks or one app's directives.
 */
export async function loadAppSource(file: string, stack: string[], ctx: IncludeContext, namedAt?: SourcePosition): Promise<RawMap[]> {
  const errors = ctx.errors;
  let text: string;
  try {
    text = await readConfigFile(file, namedAt, 'GV_ERR_CONFIG_INCLUDE_MISSING');
  } catch (err) {
    errors.push(GvError.from(err));
    return [];
  }
  const real = await realOrSelf(file);
  if (syntaxOf(file) === 'yaml') {
    const res = loadYaml(text, file);
    errors.push(...res.errors);
    if (!res.value) return [];
    if (res.value.kind !== 'map') {
      errors.push(new GvError('GV_ERR_CONFIG_TYPE', 'an app file must be one mapping (the keys of one app)', { pos: res.value.pos }));
      return [];
    }
    return [res.value];
  }
  const res = loadDslAppFile(text, file);
  errors.push(...res.errors);
  if (!res.value) return [];
  const nested = await expandIncludes(res.value.includes, [...stack, real], ctx);
  return [...res.value.apps, ...nested];
}

function isAppFile(f: string): boolean {
  return APP_FILE_EXTENSIONS.includes(extname(f).toLowerCase());
}

/** Drop files that are being loaded right now (a folder or glob that holds its own includer). */
async function skipLoading(files: string[], stack: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) if (!stack.includes(await realOrSelf(f))) out.push(f);
  return out;
}
