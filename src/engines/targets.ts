/**
 * The per-target bookkeeping shared by the engines that keep state per target (http, tcp): which
 * targets get new work, in what round-robin order, and the state of every target still remembered
 * (the current ones and those with work in flight).
 */
import type { Target } from './engine.js';

/** Targets and their states, for one engine. `make` builds the state of a target first seen. */
export class TargetSet<S extends { target: Target }> {
  readonly #make: (t: Target) => S;
  readonly #states = new Map<string, S>();
  #current: S[] = [];
  #next = 0;

  constructor(make: (t: Target) => S) {
    this.#make = make;
  }

  /**
   * Make `targets` the current ones (setTargets). A target keeps its state (counters, in-flight work,
   * pooled connections) while its id and address stay the same; a new id, or an id at a new address,
   * gets a fresh one. Returns the current states, in order.
   */
  set(targets: Target[]): readonly S[] {
    this.#current = targets.map((t) => {
      let st = this.#states.get(t.id);
      if (!st || st.target.host !== t.host || st.target.port !== t.port) {
        st = this.#make(t);
        this.#states.set(t.id, st);
      }
      return st;
    });
    this.#next = 0;
    return this.#current;
  }

  /** The state that gets the next piece of work, round robin over the current targets; null when none. */
  pick(): S | null {
    const list = this.#current;
    if (list.length === 0) return null;
    if (list.length === 1) return list[0]!;
    const st = list[this.#next % list.length]!;
    this.#next = (this.#next + 1) % list.length;
    return st;
  }

  /** The remembered state of a target id. */
  get(id: string): S | undefined {
    return this.#states.get(id);
  }

  /** Whether `st` gets new work now. */
  isCurrent(st: S): boolean {
    return this.#current.includes(st);
  }

  /** Every remembered state: current targets and those with work in flight. */
  all(): S[] {
    return [...this.#states.values()];
  }

  /** Forget a target that is no longer current and has nothing in flight (one entry per instance ever had would grow forever). */
  forget(id: string): void {
    this.#states.delete(id);
  }

  /** Forget everything (close). */
  clear(): void {
    this.#states.clear();
    this.#current = [];
    this.#next = 0;
  }
}
