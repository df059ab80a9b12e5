/**
 * Loading the external plugins named in a config's `plugins` list: phase 2 of config loading
 * (docs/architecture.md "Config"). {@link configLoadOptions} hands the config layer this loader and
 * the registry's view together, for the daemon, reload, `add` and `--check` alike. A plugin that
 * fails to import, has the wrong shape or fails registration is a config error
 * (GV_ERR_CONFIG_PLUGIN_LOAD at the spec's position), never a crash.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GvConfigError, GvError, type SourcePosition } from '../errors.js';
import type { ConfigRegistryView } from '../config/validate.js';
import type { Registry } from './registry.js';
import { installSelfResolve } from './self-resolve.js';
import type { Plugin } from './types.js';

/** One `plugins` entry: an absolute path (already resolved against the config file) or a package name. */
export interface PluginSpec {
  spec: string;
  pos: SourcePosition;
}

/**
 * Import every spec and register its plugin in `registry`, in order. A spec this registry loaded
 * before is skipped (a reload names the same plugins again). Returns the plugins registered now.
 * Throws a GvConfigError holding one GV_ERR_CONFIG_PLUGIN_LOAD per spec that failed (with `pos`, and
 * `details: { spec, plugin?, code? }` where `code` is the registry's own code when registration failed);
 * the specs that loaded are registered all the same.
 */
export async function loadPlugins(registry: Registry, specs: readonly PluginSpec[]): Promise<Plugin[]> {
  const loaded: Plugin[] = [];
  const errors: GvError[] = [];
  for (const { spec, pos } of specs) {
    if (registry.hasSpec(spec)) continue;
    try {
      const plugin = await importPlugin(spec, pos);
      try {
        registry.register(plugin, spec);
      } catch (err) {
        const gv = err instanceof GvError ? err : undefined;
        throw new GvError('GV_ERR_CONFIG_PLUGIN_LOAD', `plugin ${spec}: ${err instanceof Error ? err.message : String(err)}`, {
          pos, cause: err, details: { spec, plugin: gv?.details?.plugin ?? plugin.name, code: gv?.code ?? null },
        });
      }
      loaded.push(plugin);
    } catch (err) {
      errors.push(err instanceof GvError && err.code === 'GV_ERR_CONFIG_PLUGIN_LOAD'
        ? err
        : new GvError('GV_ERR_CONFIG_PLUGIN_LOAD', `plugin ${spec}: ${err instanceof Error ? err.message : String(err)}`, { pos, cause: err, details: { spec } }));
    }
  }
  if (errors.length > 0) throw new GvConfigError(errors);
  return loaded;
}

/** Import one spec and find its plugin object: the default export, or a named `plugin`; a function is called for it. */
async function importPlugin(spec: string, pos: SourcePosition): Promise<Plugin> {
  let mod: Record<string, unknown>;
  // The plugin's own `import … from 'gracevisor'` gets this running copy, wherever the file is.
  installSelfResolve();
  try {
    mod = await import(resolveSpec(spec, pos));
  } catch (err) {
    throw new GvError('GV_ERR_CONFIG_PLUGIN_LOAD', `plugin ${spec} cannot be imported: ${err instanceof Error ? err.message : String(err)}`, {
      pos, cause: err, details: { spec, code: (err as { code?: unknown }).code ?? null },
    });
  }
  let exported: unknown = mod.default ?? mod.plugin;
  if (typeof exported === 'function') {
    try {
      exported = await (exported as () => unknown)();
    } catch (err) {
      throw new GvError('GV_ERR_CONFIG_PLUGIN_LOAD', `plugin ${spec}: its factory threw: ${err instanceof Error ? err.message : String(err)}`, { pos, cause: err, details: { spec } });
    }
  }
  if (typeof exported !== 'object' || exported === null) {
    throw new GvError('GV_ERR_CONFIG_PLUGIN_LOAD', `plugin ${spec} exports no plugin: expected a default export (or a named \`plugin\`) that is a plugin object or a function returning one`, {
      pos, details: { spec },
    });
  }
  return exported as Plugin;
}

/**
 * The global packages folder: `npm_config_prefix` when npm runs us, else the prefix Node is installed
 * in (`<prefix>/bin/node` → `<prefix>/lib/node_modules`), which is where `npm install -g` puts packages.
 */
export function globalModulesDir(env: NodeJS.ProcessEnv = process.env): string {
  const prefix = env.npm_config_prefix || env.NPM_CONFIG_PREFIX || dirname(dirname(process.execPath));
  return join(prefix, 'lib', 'node_modules');
}

/** `name` or `@scope/name` of a package specifier, and the subpath after it. */
function splitPackage(spec: string): { name: string; sub: string } {
  const parts = spec.split('/');
  const n = spec.startsWith('@') ? 2 : 1;
  return { name: parts.slice(0, n).join('/'), sub: parts.slice(n).join('/') };
}

/** The import entry a package.json's `exports` (or `main`) gives for `sub` ('' for the package itself). */
function entryOf(pkgDir: string, sub: string): string | null {
  let pkg: { exports?: unknown; main?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    return null;
  }
  const pick = (e: unknown): string | null => {
    if (typeof e === 'string') return e;
    if (e && typeof e === 'object') {
      const o = e as Record<string, unknown>;
      for (const c of ['import', 'node', 'default']) if (c in o) return pick(o[c]);
    }
    return null;
  };
  const key = sub === '' ? '.' : `./${sub}`;
  const exp = pkg.exports;
  if (exp !== undefined) {
    const map = exp && typeof exp === 'object' && Object.keys(exp).some((k) => k.startsWith('.')) ? (exp as Record<string, unknown>)[key] : key === '.' ? exp : undefined;
    const target = pick(map);
    return target === null ? null : join(pkgDir, target);
  }
  if (sub !== '') return join(pkgDir, sub);
  return join(pkgDir, typeof pkg.main === 'string' ? pkg.main : 'index.js');
}

/** `spec` installed in a node_modules folder on the way up from `fromDir`, as a file to import. */
function findPackage(spec: string, fromDir: string): string | null {
  const { name, sub } = splitPackage(spec);
  try {
    // CommonJS resolution first (exports with a require or default condition, main, index.js)…
    return createRequire(join(fromDir, 'noop.js')).resolve(spec);
  } catch {
    // …then an import-only package by its package.json.
  }
  for (const dir of createRequire(join(fromDir, 'noop.js')).resolve.paths(name) ?? []) {
    const pkgDir = join(dir, name);
    if (!existsSync(join(pkgDir, 'package.json'))) continue;
    const entry = entryOf(pkgDir, sub);
    if (entry !== null && existsSync(entry)) return entry;
  }
  return null;
}

/**
 * An import specifier for `spec`. Paths become file URLs. A package name is looked for from the
 * config file's folder up (a plugin installed beside the config), then in the global packages
 * folder (`npm install -g` of the plugin), then from gracevisor's own folder.
 */
function resolveSpec(spec: string, pos: SourcePosition): string {
  if (isAbsolute(spec)) return pathToFileURL(spec).href;
  const from = [...(pos.file && isAbsolute(pos.file) ? [dirname(pos.file)] : []), globalModulesDir()];
  for (const dir of from) {
    const found = findPackage(spec, dir);
    if (found !== null) return pathToFileURL(found).href;
  }
  return spec;
}

/** What `loadConfig` needs from a registry: its view for phase 3 and this loader for phase 2. */
export function configLoadOptions(registry: Registry): { registry: ConfigRegistryView; loadPlugins: (specs: PluginSpec[]) => Promise<void> } {
  return {
    registry: registry.configView(),
    loadPlugins: async (specs) => {
      await loadPlugins(registry, specs);
    },
  };
}
