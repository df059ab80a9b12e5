/**
 * Bookkeeping shared by the engines that keep per-target state (http, tcp).
 */
import type { Target } from './engine.js';

/**
 * The states for a new target list, in its order: a target keeps its state (counters, in-flight
 * work, pooled connections) across setTargets calls while its id and address stay the same; a new
 * id, or an id at a new address, gets a fresh state from `make`. Called by setTargets.
 */
export function statesFor<S extends { target: Target }>(states: Map<string, S>, targets: Target[], make: (t: Target) => S): S[] {
  return targets.map((t) => {
    let st = states.get(t.id);
    if (!st || st.target.host !== t.host || st.target.port !== t.port) {
      st = make(t);
      states.set(t.id, st);
    }
    return st;
  });
}
