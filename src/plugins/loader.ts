/**
 * Loading the external plugins named in a config's `plugins` list: phase 2 of config loading
 * (docs/architecture.md "Config"). {@link configLoadOptions} hands the config layer this loader and
 * the registry's view together, for the daemon, reload, `add` and `--check` alike. A plugin that
 * fails to import, has the wrong shape or fails registration is a config error
 * (GV_ERR_CONFIG_PLUGIN_LOAD at the spec's position), never a crash.
 */
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GvConfigError, GvError, type SourcePosition } from '../errors.js';
import type { ConfigRegistryView } from '../config/validate.js';
import type { Registry } from './registry.js';
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
 * An import specifier for `spec`. Paths become file URLs. Package names are resolved from the config
 * file's folder first (so a plugin installed beside the config is found), then from gracevisor's own.
 */
function resolveSpec(spec: string, pos: SourcePosition): string {
  if (isAbsolute(spec)) return pathToFileURL(spec).href;
  if (pos.file && isAbsolute(pos.file)) {
    try {
      return pathToFileURL(createRequire(pos.file).resolve(spec)).href;
    } catch {
      // Not resolvable the CommonJS way from there (or an import-only export map): let import() try.
    }
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
