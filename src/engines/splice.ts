/**
 * The splice engine (engines.splice). Placeholder until the native addon lands: it reports itself
 * unavailable, so a config that asks for it fails its check with this reason.
 */
import type { EngineDefinition } from './engine.js';
import { GvError } from '../errors.js';

/** The splice engine's registry definition. */
export const spliceEngine: EngineDefinition = {
  description: 'zero-copy TCP proxy through Linux splice(2) (native addon)',
  unavailable: () => 'the native splice addon is not built in this version',
  create() {
    throw new GvError('GV_ERR_ENGINE_UNAVAILABLE', 'the splice engine is not available: the native addon is not built');
  },
};
