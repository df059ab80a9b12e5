/**
 * The skeleton every built-in engine shares (docs/architecture.md "Engines"): a public listener,
 * the targets (./targets.ts), the work held while there is none (./hold-queue.ts), and the counters
 * `stats()` reports. A subclass says how held work is released to a target and how it is refused;
 * listen, address, setTargets and drain are the same for all.
 */
import { Server as NetServer } from 'node:net';
import type net from 'node:net';
import type { ConnectionBudget, DrainResult, Engine, EngineOptions, EngineStats, SetTargetsOptions, Target } from '../plugins/engine.js';
import { HoldQueue } from './hold-queue.js';
import { boundAddress, listenOn, serverHandle } from './listener.js';
import { TargetSet, type TargetState } from './targets.js';

/** An engine with targets of state `S` that holds items `H` while it has no target. */
export abstract class BaseEngine<S extends TargetState, H> implements Engine {
  protected readonly opts: EngineOptions;
  protected readonly server: net.Server;
  /** Every target seen and not forgotten: the current ones (round robin) and those with work in flight. */
  protected readonly targets: TargetSet<S>;
  /** Work waiting for a target; refused (`refuse`) once it waited queue_timeout. */
  protected readonly held: HoldQueue<H>;
  /** Whether new work waits for a target while there is none (setTargets' `hold`). */
  protected holding = true;
  /** Requests (http) or connections (tcp) seen since listen(). */
  protected requests = 0;
  /** Work the engine answered or refused itself (502, 503, a reset). */
  protected errors = 0;
  protected listening = false;
  protected closing = false;
  readonly #kind: string;

  /** `kind` names the engine in log lines; `makeState` builds the state of a target first seen. */
  constructor(opts: EngineOptions, server: net.Server, kind: string, makeState: (t: Target) => S) {
    this.opts = opts;
    this.server = server;
    this.#kind = kind;
    this.targets = new TargetSet(makeState);
    this.held = new HoldQueue<H>(opts.queueTimeoutMs, (h) => this.expired(h));
  }

  async listen(): Promise<void> {
    await listenOn(this.server, this.opts, this.#kind);
    this.listening = true;
  }

  address(): { host: string; port: number } {
    return boundAddress(this.server, this.opts);
  }

  handle(): object | null {
    return serverHandle(this.server);
  }

  setTargets(targets: Target[], opts: SetTargetsOptions = {}): void {
    this.holding = opts.hold ?? true;
    const next = this.targets.set(targets);
    if (next.length > 0) {
      for (const h of this.held.takeAll()) this.release(this.targets.pick()!, h);
    } else if (!this.holding) {
      for (const h of this.held.takeAll()) this.refuse(h);
    }
  }

  drain(target: Target, timeoutMs: number): Promise<DrainResult> {
    return this.targets.drain(target, timeoutMs, (st) => this.beforeDrain(st));
  }

  abstract stats(): EngineStats;
  abstract close(timeoutMs?: number): Promise<void>;

  /**
   * The first step of close(): stop accepting. Resolves once the listener is closed; null when a
   * close is already under way (close() is idempotent).
   */
  protected stopListening(opts: { keepIdle?: boolean } = {}): Promise<void> | null {
    if (this.closing) return null;
    this.closing = true;
    if (!this.listening) return Promise.resolve();
    // http.Server.close() also closes the idle keep-alive connections at once, racing a client that
    // sends its next request on one just then (ECONNRESET); `keepIdle` closes only the listener.
    const close = opts.keepIdle ? NetServer.prototype.close : this.server.close;
    return new Promise<void>((resolve) => close.call(this.server, () => resolve()));
  }

  /** The engine's counters, from its client sockets, its targets and its hold queue. */
  protected statsOf(clients: ClientSockets, connections: (st: S) => number): EngineStats {
    return { connections: clients.open.size, requests: this.requests, errors: this.errors, ...clients.bytes(), targets: this.targets.stats(connections), held: this.held.stats() };
  }

  /** Held work waited queue_timeout: one last look (a target may have been set this same tick), else refuse it. */
  protected expired(h: H): void {
    const st = this.targets.pick();
    if (st) this.release(st, h);
    else this.refuse(h);
  }

  /**
   * New work with no target: hold it while an instance is on its way (`onGone` is how the caller
   * hears that the client left, so it is not held for nothing), or refuse it at once.
   */
  protected holdOrRefuse(h: H, onGone: (stopHolding: () => void) => void): void {
    if (!this.holding) {
      this.refuse(h);
      return;
    }
    this.held.add(h);
    onGone(() => void this.held.remove(h));
  }

  /** What drain does before it waits (the http engine closes the target's idle connections). */
  protected beforeDrain(_st: S): void {}

  /** Send held work `h` to `st`'s target. */
  protected abstract release(st: S, h: H): void;
  /** Refuse held work `h` (503, or a reset). */
  protected abstract refuse(h: H): void;
}

/** The client sockets of a listener and their bytes, those of closed ones included. */
export class ClientSockets {
  readonly #open = new Set<net.Socket>();
  #closedIn = 0;
  #closedOut = 0;

  /** Count `socket` until it closes. */
  add(socket: net.Socket): void {
    this.#open.add(socket);
    socket.once('close', () => {
      this.#open.delete(socket);
      this.#closedIn += socket.bytesRead;
      this.#closedOut += socket.bytesWritten;
    });
  }

  /** The sockets open now. */
  get open(): ReadonlySet<net.Socket> {
    return this.#open;
  }

  /** Bytes read from and written to every client so far. */
  bytes(): { bytesIn: number; bytesOut: number } {
    let bytesIn = this.#closedIn;
    let bytesOut = this.#closedOut;
    for (const s of this.#open) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    return { bytesIn, bytesOut };
  }
}

/**
 * The connection caps of one engine: its own `max_connections` and the daemon-wide budget. A new
 * connection over either cap makes room by shedding one the engine names (the http engine: the
 * oldest that has not sent a complete request), or is refused.
 */
export class ConnectionCap {
  readonly #max: number;
  readonly #budget: ConnectionBudget | null;
  readonly #counted = new Set<net.Socket>();

  constructor(max: number | undefined, budget: ConnectionBudget | undefined) {
    this.#max = max ?? Infinity;
    this.#budget = budget ?? null;
  }

  /** Connections counted now. */
  get size(): number {
    return this.#counted.size;
  }

  /**
   * Admit `socket` (counted until it closes), shedding `shed()`'s victims while over a cap. False
   * when there is no room and nothing to shed: the caller refuses the connection.
   */
  admit(socket: net.Socket, shed: () => net.Socket | null): boolean {
    for (;;) {
      const room = this.#counted.size < this.#max && (this.#budget?.take() ?? true);
      if (room) break;
      const victim = shed();
      if (!victim) return false;
      this.#drop(victim);
      victim.destroy();
    }
    this.#counted.add(socket);
    socket.once('close', () => this.#drop(socket));
    return true;
  }

  #drop(socket: net.Socket): void {
    if (this.#counted.delete(socket)) this.#budget?.release();
  }
}
