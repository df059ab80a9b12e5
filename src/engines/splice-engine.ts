/**
 * The splice engine's Engine: the tcp engine's contract (per-connection routing, clients held while
 * there is no target, drain by open connections) with the bytes moved by the native addon. JavaScript
 * accepts the client (paused, so libuv never reads it), connects upstream (paused too), hands both fds
 * to the addon, which dups them, and destroys its own handles; from then on the kernel moves the bytes.
 */
import net from 'node:net';
import type { DrainResult, Engine, EngineOptions, EngineStats, SetTargetsOptions, Target, TargetStats } from './engine.js';
import { boundAddress, listenOn } from './listener.js';
import type { NativeSplicer, SpliceAddon, SpliceEnd, SpliceTuning } from './splice-addon.js';
import { GvError } from '../errors.js';

/** Engine options plus the splice loop's tunables (bench/splice.mjs tries several). */
export interface SpliceEngineOptions extends EngineOptions {
  splice?: SpliceTuning;
}

/**
 * Per-target counters; kept while the target is current or still has connections. As in the tcp and
 * http engines, a target's bytesIn is what came from the target and bytesOut what was sent to it
 * (the engine's own bytesIn/bytesOut are from/to clients).
 */
interface TargetState {
  target: Target;
  inFlight: number;
  total: number;
  /** Bytes of this target's ended connections, from the target's side. */
  bytesIn: number;
  bytesOut: number;
}

/** A client not yet handed to the addon: waiting for a target, or for its upstream connect. */
interface Pending {
  client: net.Socket;
  timer?: NodeJS.Timeout;
  upstream?: net.Socket;
  state?: TargetState;
}

/** The fd under a net.Socket (Node 20 keeps it on the internal TCP handle). */
function socketFd(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/** One app's splice proxy. Create through `engines.splice` (src/engines/splice.ts). */
export class SpliceEngine implements Engine {
  readonly #opts: SpliceEngineOptions;
  readonly #addon: SpliceAddon;
  #splicer: NativeSplicer | null = null;
  readonly #server: net.Server;
  #targets: Target[] = [];
  #next = 0;
  /** Whether new connections wait for a target while there is none (setTargets' `hold`). */
  #hold = true;
  readonly #states = new Map<string, TargetState>();
  /** Native connection id -> its target. */
  readonly #spliced = new Map<number, TargetState>();
  readonly #pending = new Set<Pending>();
  /** Called after every change in open work; each checks its own condition. */
  readonly #watchers = new Set<() => void>();
  #requests = 0;
  #errors = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #closing = false;
  #closed: Promise<void> | null = null;

  /** Binds nothing; `listen()` does. */
  constructor(opts: SpliceEngineOptions, addon: SpliceAddon) {
    this.#opts = opts;
    this.#addon = addon;
    this.#server = net.createServer({ pauseOnConnect: true }, (client) => this.#accept(client));
  }

  async listen(): Promise<void> {
    try {
      this.#splicer ??= new this.#addon.Splicer((end) => this.#ended(end), this.#opts.splice ?? {});
    } catch (err) {
      throw new GvError('GV_ERR_ENGINE_UNAVAILABLE', `the splice loop cannot start: ${(err as Error).message}`, { cause: err });
    }
    try {
      await listenOn(this.#server, this.#opts, 'splice');
    } catch (err) {
      // Nothing was accepted: let the loop thread go now rather than at close().
      this.#splicer?.close();
      this.#splicer = null;
      throw err;
    }
  }

  address(): { host: string; port: number } {
    return boundAddress(this.#server, this.#opts);
  }

  setTargets(targets: Target[], opts: SetTargetsOptions = {}): void {
    this.#hold = opts.hold ?? true;
    this.#targets = [...targets];
    this.#next = 0;
    for (const t of targets) {
      const s = this.#states.get(t.id);
      if (s) s.target = t;
      else this.#states.set(t.id, { target: t, inFlight: 0, total: 0, bytesIn: 0, bytesOut: 0 });
    }
    this.#prune();
    if (targets.length === 0) {
      if (!this.#hold) for (const p of [...this.#pending]) if (p.upstream === undefined) this.#fail(p, 'app stopped');
      return;
    }
    for (const p of [...this.#pending]) {
      if (p.upstream === undefined) {
        clearTimeout(p.timer);
        this.#connect(p);
      }
    }
  }

  async drain(target: Target, timeoutMs: number): Promise<DrainResult> {
    const started = performance.now();
    const open = (): number => this.#states.get(target.id)?.inFlight ?? 0;
    if (open() === 0) return { drained: true, open: 0, elapsedMs: 0 };
    const drained = await this.#until(() => open() === 0, timeoutMs);
    return { drained, open: open(), elapsedMs: Math.round(performance.now() - started) };
  }

  stats(): EngineStats {
    const live = new Map<TargetState, { bytesIn: number; bytesOut: number }>();
    let bytesIn = this.#bytesIn;
    let bytesOut = this.#bytesOut;
    const counters = this.#splicer?.counters() ?? new Float64Array(0);
    for (let i = 0; i + 2 < counters.length; i += 3) {
      const state = this.#spliced.get(counters[i]!);
      if (!state) continue;
      const l = live.get(state) ?? { bytesIn: 0, bytesOut: 0 };
      l.bytesIn += counters[i + 1]!;
      l.bytesOut += counters[i + 2]!;
      live.set(state, l);
      bytesIn += counters[i + 1]!;
      bytesOut += counters[i + 2]!;
    }
    const targets: TargetStats[] = [...this.#states.values()].map((s) => ({
      id: s.target.id,
      connections: s.inFlight,
      inFlight: s.inFlight,
      total: s.total,
      bytesIn: s.bytesIn + (live.get(s)?.bytesOut ?? 0),
      bytesOut: s.bytesOut + (live.get(s)?.bytesIn ?? 0),
    }));
    return {
      connections: this.#pending.size + this.#spliced.size,
      requests: this.#requests,
      errors: this.#errors,
      bytesIn,
      bytesOut,
      targets,
    };
  }

  close(timeoutMs?: number): Promise<void> {
    this.#closed ??= this.#close(timeoutMs);
    return this.#closed;
  }

  async #close(timeoutMs: number | undefined): Promise<void> {
    this.#closing = true;
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Clients still waiting for a target will never get one now.
    for (const p of [...this.#pending]) {
      if (p.upstream === undefined) this.#fail(p, 'closing');
    }
    const openWork = (): number => this.#pending.size + this.#spliced.size;
    if (openWork() > 0) await this.#until(() => openWork() === 0, timeoutMs ?? Infinity);
    for (const p of [...this.#pending]) this.#fail(p, 'closing');
    // Resets what is left; each reset connection is reported, so wait for the last report.
    const reported = this.#spliced.size === 0 ? Promise.resolve(true) : this.#until(() => this.#spliced.size === 0, Infinity);
    this.#splicer?.close();
    await reported;
    await serverClosed;
  }

  /** Resolves true when `done()` holds after some change, false after timeoutMs. */
  #until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        if (!done()) return;
        this.#watchers.delete(check);
        clearTimeout(timer);
        resolve(true);
      };
      this.#watchers.add(check);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.#watchers.delete(check);
          resolve(done());
        }, Math.max(0, timeoutMs));
      }
    });
  }

  #changed(): void {
    for (const w of [...this.#watchers]) w();
    this.#prune();
  }

  /** Forgets targets that are no longer current and have nothing open. */
  #prune(): void {
    for (const [id, s] of this.#states) {
      if (s.inFlight === 0 && !this.#targets.some((t) => t.id === id)) this.#states.delete(id);
    }
  }

  #accept(client: net.Socket): void {
    // Errors surface only once we touch the socket; a listener keeps them from being uncaught.
    client.on('error', () => {});
    this.#requests++;
    if (this.#closing) {
      this.#errors++;
      client.resetAndDestroy();
      return;
    }
    const p: Pending = { client };
    this.#pending.add(p);
    if (this.#targets.length > 0) {
      this.#connect(p);
      return;
    }
    if (!this.#hold) {
      this.#fail(p, 'app stopped');
      return;
    }
    // No instance ready (a restart with nothing running, or a cold start): hold the client, as the
    // tcp engine does, then give up.
    p.timer = setTimeout(() => this.#fail(p, 'no target'), this.#opts.queueTimeoutMs);
  }

  #connect(p: Pending): void {
    const target = this.#targets[this.#next++ % this.#targets.length]!;
    const state = this.#states.get(target.id)!;
    state.inFlight++;
    state.total++;
    p.state = state;
    const upstream = net.connect({ host: target.host, port: target.port });
    // Before the connect completes: libuv must never start reading, or bytes would land in JS.
    upstream.pause();
    p.upstream = upstream;
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      this.#opts.log('warn', 'splice upstream connect failed', { app: this.#opts.app, target: target.id, code: err.code });
      this.#fail(p, err.code ?? 'upstream error');
    });
    upstream.once('connect', () => this.#handOver(p));
  }

  #handOver(p: Pending): void {
    const { client, upstream, state } = p;
    let id: number;
    try {
      if (this.#splicer === null) throw new Error('the splice loop is closed');
      id = this.#splicer.add(socketFd(client), socketFd(upstream!));
    } catch (err) {
      this.#opts.log('error', 'splice hand-over failed', { app: this.#opts.app, code: (err as NodeJS.ErrnoException).code });
      this.#fail(p, 'hand-over');
      return;
    }
    this.#pending.delete(p);
    this.#spliced.set(id, state!);
    // The addon holds dups; closing ours sends nothing to either peer.
    client.destroy();
    upstream!.destroy();
  }

  #fail(p: Pending, why: string): void {
    if (!this.#pending.delete(p)) return;
    clearTimeout(p.timer);
    this.#errors++;
    // A reset, as the tcp engine does: a half-open client would otherwise wait on a clean end.
    p.client.resetAndDestroy();
    p.upstream?.destroy();
    if (p.state) p.state.inFlight--;
    this.#opts.log('info', 'splice connection refused', { app: this.#opts.app, why });
    this.#changed();
  }

  #ended(end: SpliceEnd): void {
    const state = this.#spliced.get(end.id);
    if (!state) return;
    this.#spliced.delete(end.id);
    state.inFlight--;
    state.bytesIn += end.bytesOut;
    state.bytesOut += end.bytesIn;
    this.#bytesIn += end.bytesIn;
    this.#bytesOut += end.bytesOut;
    this.#changed();
  }
}
