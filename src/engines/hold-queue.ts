/**
 * Work an engine parks while it has no target (an instance on its way: a cold start, a crash
 * replacement): requests (http) or connections (tcp, splice), released in arrival order when a
 * target appears, and handed back to the engine to refuse once they waited `queue_timeout`.
 */

/** Held items, each with its own timeout. */
export class HoldQueue<T> {
  readonly #timeoutMs: number;
  readonly #expire: (item: T) => void;
  /** Insertion-ordered: release keeps arrival order. Each with its timer and when it arrived. */
  readonly #held = new Map<T, { timer: NodeJS.Timeout; since: number }>();
  #total = 0;
  #totalMs = 0;

  /** `expire` is called with an item that waited `timeoutMs` (it is no longer held then). */
  constructor(timeoutMs: number, expire: (item: T) => void) {
    this.#timeoutMs = timeoutMs;
    this.#expire = expire;
  }

  /** Items held now. */
  get size(): number {
    return this.#held.size;
  }

  /** Held now, held in all, and how long everything held so far waited (ms). */
  stats(): { now: number; total: number; totalMs: number } {
    const now = performance.now();
    let waiting = 0;
    for (const h of this.#held.values()) waiting += now - h.since;
    return { now: this.#held.size, total: this.#total, totalMs: Math.round(this.#totalMs + waiting) };
  }

  /** Hold `item` until it is taken, removed, or expires. */
  add(item: T): void {
    const timer = setTimeout(() => {
      if (!this.#done(item)) return;
      this.#expire(item);
    }, Math.min(this.#timeoutMs, 2 ** 31 - 1));
    this.#held.set(item, { timer, since: performance.now() });
    this.#total++;
  }

  /** Stop holding `item` (its client went away); false when it was not held. */
  remove(item: T): boolean {
    return this.#done(item);
  }

  /** Every held item, in arrival order, no longer held: to release to a target or to refuse. */
  takeAll(): T[] {
    const items = [...this.#held.keys()];
    for (const item of items) this.#done(item);
    return items;
  }

  #done(item: T): boolean {
    const h = this.#held.get(item);
    if (!h) return false;
    clearTimeout(h.timer);
    this.#held.delete(item);
    this.#totalMs += performance.now() - h.since;
    return true;
  }
}
