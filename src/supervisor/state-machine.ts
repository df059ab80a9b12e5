/**
 * One state field and the table of its legal transitions, the way HAProxy keeps its streams: an
 * Instance and an App each hold one. A transition the table does not allow is a bug, caught where it
 * happens: it throws GV_ERR_INTERNAL naming the machine, the state and the transition asked for
 * (in tests that fails the test; in the daemon the uncaught-exception handler logs it).
 */
import { GvError } from '../errors.js';

/** Legal next states of each state; a terminal state maps to an empty list. */
export type TransitionTable<S extends string> = { readonly [K in S]: readonly S[] };

/** A state value that changes only along its table. */
export class StateMachine<S extends string> {
  readonly #name: string;
  readonly #table: TransitionTable<S>;
  #state: S;
  #since = Date.now();

  /** `name` says whose machine it is in error messages (`instance web#3`, `app web`). */
  constructor(name: string, table: TransitionTable<S>, initial: S) {
    this.#name = name;
    this.#table = table;
    this.#state = initial;
  }

  get state(): S {
    return this.#state;
  }

  /** ms since the last transition. */
  get sinceMs(): number {
    return Date.now() - this.#since;
  }

  /** True when the state is one of `states`. */
  is(...states: S[]): boolean {
    return states.includes(this.#state);
  }

  /** True when `to` is a legal next state (or the current one). */
  can(to: S): boolean {
    return to === this.#state || this.#table[this.#state].includes(to);
  }

  /**
   * Move to `to`. Returns the state it left, or null when it already was `to` (nothing happened).
   * Throws GV_ERR_INTERNAL for a transition the table does not allow.
   */
  to(to: S): S | null {
    const from = this.#state;
    if (from === to) return null;
    if (!this.#table[from].includes(to)) {
      throw new GvError('GV_ERR_INTERNAL', `${this.#name}: illegal state transition ${from} -> ${to}`, { details: { machine: this.#name, from, to } });
    }
    this.#state = to;
    this.#since = Date.now();
    return from;
  }
}
