/**
 * The splice engine's Engine: the tcp engine's contract (per-connection routing, clients held while
 * there is no target, drain by open connections) with the bytes moved by the native addon. JavaScript
 * accepts the client (paused, so libuv never reads it), connects upstream (paused too), hands both fds
 * to the addon, which dups them, and destroys its own handles; from then on the kernel moves the bytes.
 */
import net from 'node:net';
import type { EngineOptions, EngineStats, TargetStats } from '../plugins/engine.js';
import { BaseEngine } from './base-engine.js';
import type { NativeSplicer, SpliceAddon, SpliceEnd, SpliceTuning } from './splice-addon.js';
import { TargetState } from './targets.js';
import { GvError } from '../errors.js';

/** Engine options plus the splice loop's tunables (bench/splice.mjs tries several). */
export interface SpliceEngineOptions extends EngineOptions {
  splice?: SpliceTuning;
}

/**
 * Per-target counters. As in the tcp and http engines, a target's bytesIn is what came from the
 * target and bytesOut what was sent to it (the engine's own bytesIn/bytesOut are from/to clients);
 * here they hold the bytes of this target's ended connections, the live ones come from the addon.
 */
class SpliceTargetState extends TargetState {
  /** Connections routed here (connecting upstream, or handed to the addon) and not yet ended. */
  inFlight = 0;

  override open(): number {
    return this.inFlight;
  }
}

/** A client not yet handed to the addon: waiting for a target, or for its upstream connect. */
interface Pending {
  client: net.Socket;
  upstream?: net.Socket;
  state?: SpliceTargetState;
}

/** The fd under a net.Socket (Node 20 keeps it on the internal TCP handle). */
function socketFd(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/** One app's splice proxy. Create through `engines.splice` (src/engines/splice.ts). */
export class SpliceEngine extends BaseEngine<SpliceTargetState, Pending> {
  readonly #tuning: SpliceTuning;
  readonly #addon: SpliceAddon;
  #splicer: NativeSplicer | null = null;
  /** Native connection id -> its target. */
  readonly #spliced = new Map<number, SpliceTargetState>();
  /** Clients not yet handed to the addon (held, or connecting upstream). */
  readonly #pending = new Set<Pending>();
  #bytesIn = 0;
  #bytesOut = 0;
  #closed: Promise<void> | null = null;

  /** Binds nothing; `listen()` does. */
  constructor(opts: SpliceEngineOptions, addon: SpliceAddon) {
    const server = net.createServer({ pauseOnConnect: true });
    super(opts, server, 'splice', (t) => new SpliceTargetState(t));
    this.#tuning = opts.splice ?? {};
    this.#addon = addon;
    server.on('connection', (client: net.Socket) => this.#accept(client));
  }

  override async listen(): Promise<void> {
    try {
      this.#splicer ??= new this.#addon.Splicer((end) => this.#ended(end), this.#tuning);
    } catch (err) {
      throw new GvError('GV_ERR_ENGINE_UNAVAILABLE', `the splice loop cannot start: ${(err as Error).message}`, { cause: err });
    }
    try {
      await super.listen();
    } catch (err) {
      // Nothing was accepted: let the loop thread go now rather than at close().
      this.#splicer?.close();
      this.#splicer = null;
      throw err;
    }
  }

  stats(): EngineStats {
    const live = new Map<SpliceTargetState, { bytesIn: number; bytesOut: number }>();
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
    const targets: TargetStats[] = this.targets.all().map((s) => ({
      id: s.target.id,
      connections: s.inFlight,
      inFlight: s.inFlight,
      total: s.total,
      bytesIn: s.bytesIn + (live.get(s)?.bytesOut ?? 0),
      bytesOut: s.bytesOut + (live.get(s)?.bytesIn ?? 0),
    }));
    return {
      connections: this.#pending.size + this.#spliced.size,
      requests: this.requests,
      errors: this.errors,
      bytesIn,
      bytesOut,
      targets,
    };
  }

  close(timeoutMs?: number): Promise<void> {
    this.#closed ??= this.#close(timeoutMs);
    return this.#closed;
  }

  protected release(st: SpliceTargetState, p: Pending): void {
    this.#connect(st, p);
  }

  protected refuse(p: Pending): void {
    this.#fail(p, this.closing ? 'closing' : this.holding ? 'no target' : 'app stopped');
  }

  async #close(timeoutMs: number | undefined): Promise<void> {
    this.closing = true;
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Clients still waiting for a target will never get one now.
    for (const p of this.held.takeAll()) this.refuse(p);
    // Every connection left is counted in flight by its target: connecting upstream, or spliced.
    const idle = (ms: number): Promise<boolean[]> => Promise.all(this.targets.all().map((st) => st.waitIdle(ms)));
    await idle(timeoutMs ?? Infinity);
    for (const p of [...this.#pending]) this.#fail(p, 'closing');
    // Resets what is left; each reset connection is reported (and settles its target), so wait for the last report.
    this.#splicer?.close();
    await idle(Infinity);
    this.targets.clear();
    await serverClosed;
  }

  #accept(client: net.Socket): void {
    // Errors surface only once we touch the socket; a listener keeps them from being uncaught.
    client.on('error', () => {});
    this.requests++;
    // Counted until the addon reports the connection ended (the JS socket is closed at hand-over).
    const full = this.#pending.size + this.#spliced.size >= (this.opts.maxConnections ?? Infinity);
    if (this.closing || full || !(this.opts.budget?.take() ?? true)) {
      this.errors++;
      client.resetAndDestroy();
      return;
    }
    const p: Pending = { client };
    this.#pending.add(p);
    const st = this.targets.pick();
    if (st) {
      this.#connect(st, p);
      return;
    }
    // No instance ready (a restart with nothing running, or a cold start): hold the client, as the
    // tcp engine does, then give up. A client that leaves meanwhile is reset at the timeout anyway.
    this.holdOrRefuse(p, () => {});
  }

  #connect(state: SpliceTargetState, p: Pending): void {
    const target = state.target;
    state.inFlight++;
    state.total++;
    p.state = state;
    const upstream = net.connect({ host: target.host, port: target.port });
    // Before the connect completes: libuv must never start reading, or bytes would land in JS.
    upstream.pause();
    p.upstream = upstream;
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      this.opts.log('warn', 'splice upstream connect failed', { app: this.opts.app, target: target.id, code: err.code });
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
      this.opts.log('error', 'splice hand-over failed', { app: this.opts.app, code: (err as NodeJS.ErrnoException).code });
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
    this.opts.budget?.release();
    this.held.remove(p);
    this.errors++;
    // A reset, as the tcp engine does: a half-open client would otherwise wait on a clean end.
    p.client.resetAndDestroy();
    p.upstream?.destroy();
    if (p.state) {
      p.state.inFlight--;
      p.state.settle();
    }
    this.opts.log('info', 'splice connection refused', { app: this.opts.app, why });
  }

  #ended(end: SpliceEnd): void {
    const state = this.#spliced.get(end.id);
    if (!state) return;
    this.#spliced.delete(end.id);
    this.opts.budget?.release();
    state.inFlight--;
    state.bytesIn += end.bytesOut;
    state.bytesOut += end.bytesIn;
    this.#bytesIn += end.bytesIn;
    this.#bytesOut += end.bytesOut;
    state.settle();
  }
}
