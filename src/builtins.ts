/**
 * The built-in plugins, and the one way to build a registry that holds them. This sits at the top of
 * the layers (docs/architecture.md "Layers"): it is the only module that knows every built-in, so the
 * supervisor and the config layer know none by name. gracevisord and `--check` both build their
 * registry here, so a config that passes `--check` finds the same engines, checks and alerters at start.
 */
import { enginesPlugin } from './engines/index.js';
import { alertersPlugin } from './plugins/builtin-alerters.js';
import { healthchecksPlugin } from './plugins/builtin-healthchecks.js';
import { Hooks } from './plugins/hooks.js';
import { Registry } from './plugins/registry.js';
import type { Plugin } from './plugins/types.js';

/** Every built-in plugin, in the order they are registered (before any plugin of the config). */
export const builtinPlugins: readonly Plugin[] = [enginesPlugin, healthchecksPlugin, alertersPlugin];

/**
 * A registry with the built-in plugins registered through the same door as any other
 * (`Registry.register`), then `extra` (an embedder's or a test's plugins). `hooks` is the runner
 * their hooks subscribe to (the supervisor's own; a fresh one by default).
 */
export function createRegistry(hooks: Hooks = new Hooks(), extra: readonly Plugin[] = []): Registry {
  const registry = new Registry({ hooks });
  for (const p of [...builtinPlugins, ...extra]) registry.register(p);
  return registry;
}
