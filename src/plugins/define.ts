/**
 * `definePlugin`: an identity function that exists only so a plugin written as a plain object gets
 * its types checked and inferred (the way Vite's `defineConfig` does). It does nothing at run time;
 * the registry checks the object when it is registered.
 */
import type { Plugin } from './types.js';

/** Returns `plugin` unchanged, typed as a {@link Plugin}. */
export function definePlugin<P extends Plugin>(plugin: P): P {
  return plugin;
}
