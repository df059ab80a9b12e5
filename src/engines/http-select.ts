/**
 * engines.http, the default engine, and engines.http_js. engines.http is the native data plane
 * (./http-native/) where its addon loaded, else the JavaScript engine (./http/) — the same contract
 * either way; `plugins list` says which one serves, and why when it is the JavaScript one.
 * engines.http_js is always the JavaScript engine: `proxy: http_js` (YAML) or `proxy http_js;`
 * (DSL) asks for it, e.g. to rule the native plane out when chasing a problem.
 */
import type { EngineDefinition } from '../plugins/engine.js';
import { HTTP_ENGINE_DESCRIPTION, HttpEngine, httpJsEngine } from './http/engine.js';
import { loadHttpAddon, defaultHttpAddonPath, type HttpAddon } from './http-native/addon.js';
import { NativeHttpEngine, type NativeHttpEngineOptions } from './http-native/engine.js';

/**
 * Builds engines.http around the addon at `addonPath` (loaded once, on first use). The registry uses
 * {@link httpEngine}; tests pass a bad path to see the fallback.
 */
export function createHttpEngineDefinition(addonPath: string = defaultHttpAddonPath): EngineDefinition {
  let loaded: { addon: HttpAddon | null; reason: string | null } | null = null;
  const load = (): { addon: HttpAddon | null; reason: string | null } => (loaded ??= loadHttpAddon(addonPath));
  return {
    get description(): string {
      const { addon, reason } = load();
      return addon
        ? `${HTTP_ENGINE_DESCRIPTION} (native data plane)`
        : `${HTTP_ENGINE_DESCRIPTION} (JavaScript: the native data plane is unavailable: ${reason})`;
    },
    create(opts: NativeHttpEngineOptions) {
      const { addon } = load();
      return addon ? new NativeHttpEngine(opts, addon) : new HttpEngine(opts);
    },
  };
}

/** engines.http: native where the addon is, else JavaScript. */
export const httpEngine: EngineDefinition = createHttpEngineDefinition();

/** engines.http_js: always the JavaScript implementation. */
export { httpJsEngine };
