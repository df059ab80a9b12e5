/**
 * Work an engine parks while it has no target (an instance on its way: a cold start, a crash
 * replacement): requests (http) or connections (tcp, splice), released in arrival order when a
 * target appears, and handed back to the engine to refuse once they waited `queue_timeout`.
 */

/** Held items, each with its own timeout. */
export class HoldQueue<T> {
  readonly #timeoutMs: number;
  readonly #expire: (item: T) => void;
  /** Insertion-ordered: release keeps arrival order. */
  readonly #held = new Map<T, NodeJS.Timeout>();

  /** `expire` is called with an item that waited `timeoutMs` (it is no longer held then). */
  constructor(timeoutMs: number, expire: (item: T) => void) {
    this.#timeoutMs = timeoutMs;
    this.#expire = expire;
  }

  /** Items held now. */
  get size(): number {
    return this.#held.size;
  }

  /** Hold `item` until it is taken, removed, or expires. */
  add(item: T): void {
    const timer = setTimeout(() => {
      if (!this.#held.delete(item)) return;
      this.#expire(item);
    }, Math.min(this.#timeoutMs, 2 ** 31 - 1));
    this.#held.set(item, timer);
  }

  /** Stop holding `item` (its client went away); false when it was not held. */
  remove(item: T): boolean {
    const timer = this.#held.get(item);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.#held.delete(item);
    return true;
  }

  /** Every held item, in arrival order, no longer held: to release to a target or to refuse. */
  takeAll(): T[] {
    const items = [...this.#held.keys()];
    for (const timer of this.#held.values()) clearTimeout(timer);
    this.#held.clear();
    return items;
  }
}
