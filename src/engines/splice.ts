/**
 * The splice engine (engines.splice): the tcp engine's contract with bytes moved socket -> pipe ->
 * socket inside the kernel by a native addon. Optional: where the addon is missing, the definition
 * says why and `create()` refuses with that reason.
 */
import type { EngineDefinition } from '../plugins/engine.js';
import { GvError } from '../errors.js';
import { loadSpliceAddon, defaultSpliceAddonPath } from './splice-addon.js';
import { SpliceEngine, type SpliceEngineOptions } from './splice-engine.js';

/**
 * Builds the definition around the addon at `addonPath`. The registry uses {@link spliceEngine};
 * tests pass a bad path to see the unavailable side.
 */
export function createSpliceEngineDefinition(addonPath: string = defaultSpliceAddonPath): EngineDefinition {
  return {
    description: 'zero-copy TCP proxy through Linux splice(2) (native addon)',
    unavailable: () => loadSpliceAddon(addonPath).reason,
    create(opts: SpliceEngineOptions) {
      const loaded = loadSpliceAddon(addonPath);
      if (loaded.addon === null) {
        throw new GvError('GV_ERR_ENGINE_UNAVAILABLE', `the splice engine is not available: ${loaded.reason}`, { details: { reason: loaded.reason } });
      }
      return new SpliceEngine(opts, loaded.addon);
    },
  };
}

/** The splice engine's registry definition (engines.splice). */
export const spliceEngine: EngineDefinition = createSpliceEngineDefinition();

export { loadSpliceAddon } from './splice-addon.js';
export type { SpliceTuning } from './splice-addon.js';
export { SpliceEngine, type SpliceEngineOptions } from './splice-engine.js';
