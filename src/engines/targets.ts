/**
 * The per-target bookkeeping every built-in engine shares: which targets get new work, in what
 * round-robin order, the state of every target still remembered (the current ones and those with
 * work in flight), and drain — waiting until a target's in-flight work is zero, or a timeout.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { DrainResult, Target, TargetStats } from '../plugins/engine.js';

/** What an engine keeps per target: counters, and the drain() callers waiting for it to go idle. */
export abstract class TargetState {
  readonly target: Target;
  /** Requests (http) or connections (tcp) handed to this target so far. */
  total = 0;
  /** Bytes from the target, and bytes sent to it. */
  bytesIn = 0;
  bytesOut = 0;
  #waiters: (() => void)[] = [];

  constructor(target: Target) {
    this.target = target;
  }

  /** Work in flight right now: what drain waits on. */
  abstract open(): number;

  /** True when the state holds nothing that needs closing (no work, no pooled connections). */
  idle(): boolean {
    return this.open() === 0;
  }

  /** Call whenever work of this target finishes: wakes the drain() callers once nothing is open. */
  settle(): void {
    if (this.open() === 0 && this.#waiters.length > 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves true once nothing is open, or false after `timeoutMs` (Infinity: no timeout). */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.open() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          const i = this.#waiters.indexOf(done);
          if (i >= 0) this.#waiters.splice(i, 1);
          resolve(this.open() === 0);
        }, Math.max(0, Math.min(timeoutMs, 2 ** 31 - 1)));
      }
      this.#waiters.push(done);
    });
  }
}

/** Targets and their states, for one engine. `make` builds the state of a target first seen. */
export class TargetSet<S extends TargetState> {
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
   * gets a fresh one. A state no longer current that holds nothing is forgotten at once. Returns the
   * current states, in order.
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
    for (const [id, st] of this.#states) if (!this.#current.includes(st) && st.idle()) this.#states.delete(id);
    return this.#current;
  }

  /** The current states, in order. */
  get current(): readonly S[] {
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

  /** Like {@link pick}, but never `avoid` (a target that just failed); null when it is the only one. */
  pickOther(avoid: S): S | null {
    for (let i = 0; i < this.#current.length; i++) {
      const st = this.pick();
      if (st !== avoid) return st;
    }
    return null;
  }

  /** The remembered state of a target id. */
  get(id: string): S | undefined {
    return this.#states.get(id);
  }

  /** Every remembered state: current targets and those with work in flight. */
  all(): S[] {
    return [...this.#states.values()];
  }

  /**
   * The engine contract's drain: `before` runs first (the http engine stops reusing idle pooled
   * connections there), then wait until the target's work is done or `timeoutMs` passes. A drained
   * target that is no longer current is forgotten, so a daemon that restarts its apps many times
   * does not keep one entry per instance it ever had. Never rejects.
   */
  async drain(target: Target, timeoutMs: number, before?: (st: S) => void): Promise<DrainResult> {
    const started = performance.now();
    const st = this.#states.get(target.id);
    if (!st) return { drained: true, open: 0, elapsedMs: 0 };
    before?.(st);
    await st.waitIdle(timeoutMs);
    const open = st.open();
    if (st.idle() && !this.#current.includes(st) && this.#states.get(target.id) === st) this.#states.delete(target.id);
    return { drained: open === 0, open, elapsedMs: Math.round(performance.now() - started) };
  }

  /** Per-target counters for `stats()`; `connections` says how many connections a target's state holds. */
  stats(connections: (st: S) => number): TargetStats[] {
    return this.all().map((st) => ({
      id: st.target.id,
      connections: connections(st),
      inFlight: st.open(),
      total: st.total,
      bytesIn: st.bytesIn,
      bytesOut: st.bytesOut,
    }));
  }

  /** Forget everything (close). */
  clear(): void {
    this.#states.clear();
    this.#current = [];
    this.#next = 0;
  }
}

/**
 * Count a proxied pair of sockets as one piece of `st`'s work until both are closed: then the
 * upstream's bytes are added to the target's, `done` forgets the pair, and drain() waiters wake.
 */
export function trackPair(st: TargetState, client: Duplex, upstream: net.Socket, done: () => void): void {
  let closed = 0;
  const sideClosed = (): void => {
    if (++closed < 2) return;
    st.bytesIn += upstream.bytesRead;
    st.bytesOut += upstream.bytesWritten;
    done();
    st.settle();
  };
  upstream.once('close', sideClosed);
  client.once('close', sideClosed);
}
