/**
 * `gracevisord --check` / `--print`: the config layer's check with the same registry the daemon
 * would build — the built-in plugins, then the config's own plugins — so that a config naming an
 * engine that is unknown or unavailable here fails the check, not only the start.
 */
import { runCheck, type CheckResult } from '../config/check.js';
import { builtinPlugins } from '../engines/index.js';
import { Hooks } from '../plugins/hooks.js';
import { loadPlugins } from '../plugins/loader.js';
import { Registry } from '../plugins/registry.js';

/** Check (or print) the config at `path`; returns what to write and the exit status. */
export async function checkConfig(path: string, print: boolean): Promise<CheckResult> {
  const registry = new Registry({ hooks: new Hooks() });
  for (const p of builtinPlugins) registry.register(p);
  return runCheck(path, { print, registry: registry.configView(), loadPlugins: async (specs) => { await loadPlugins(registry, specs); } });
}
