/**
 * Makes `import … from 'gracevisor'` work in a plugin file anywhere (docs/plugins.md): the plugin
 * loader installs this once, before it imports the first plugin. With Node's in-thread
 * `module.registerHooks` where it exists, else `module.register` (Node ≥ 20.6) with
 * ./self-resolve-hooks.js in the loader thread.
 */
import * as nodeModule from 'node:module';
import { initialize, resolve } from './self-resolve-hooks.js';

/** This file is inside the package, which is what a self-reference needs. */
const INSIDE_URL = import.meta.url;
let installed = false;

interface ModuleHooksApi {
  registerHooks?: (hooks: { resolve: typeof resolve }) => unknown;
  register?: (specifier: string | URL, options: { parentURL?: string | URL; data?: unknown }) => void;
}

/** Install the hooks (idempotent). Returns how, for `plugins list` and tests: 'registerHooks', 'register' or 'none'. */
export function installSelfResolve(): 'registerHooks' | 'register' | 'none' {
  const api = nodeModule as unknown as ModuleHooksApi;
  const how = typeof api.registerHooks === 'function' ? 'registerHooks' : typeof api.register === 'function' ? 'register' : 'none';
  if (installed) return how;
  installed = true;
  if (how === 'registerHooks') {
    initialize({ insideURL: INSIDE_URL });
    api.registerHooks!({ resolve });
  } else if (how === 'register') {
    api.register!(new URL('./self-resolve-hooks.js', import.meta.url), { data: { insideURL: INSIDE_URL } });
  }
  return how;
}
