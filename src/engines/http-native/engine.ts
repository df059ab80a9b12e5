/**
 * The native http engine: engines.http's contract (src/engines/http/engine.ts is the JavaScript
 * implementation of the same) with the data plane in the native addon (./addon.ts). The plane's
 * threads accept, parse, forward and count; this class owns the control: the listening socket (and
 * its hand-over to a successor daemon), the targets, drain, close, retire and the stats the
 * supervisor and the metrics read.
 */
import net from 'node:net';
import { GvError } from '../../errors.js';
import type { DrainResult, Engine, EngineOptions, EngineStats, SetTargetsOptions, Target } from '../../plugins/engine.js';
import { listenOn } from '../listener.js';
import type { HttpAddon, NativeHttpPlane, PlaneEvent, PlaneOptions, PlaneStats } from './addon.js';

/** Engine options plus the plane's own tunables (bench/ tries several thread counts). */
export interface NativeHttpEngineOptions extends EngineOptions {
  plane?: Pick<PlaneOptions, 'threads' | 'maxHeld' | 'proto'>;
}

/** How often a retiring engine looks whether its last client connection is gone, ms. */
const RETIRE_POLL_MS = 25;

/** A libuv TCP handle of the listening socket, as much of it as the engine uses. */
interface KeptHandle {
  close(): void;
  getsockname?(out: Record<string, unknown>): number;
}

/** The fd under a libuv TCP handle (Node 20 exposes it on Linux). */
function handleFd(handle: object): number {
  const fd = (handle as { fd?: number }).fd;
  return typeof fd === 'number' ? fd : -1;
}

/** One app's native http proxy. Create through `engines.http` (../http-select.ts). */
export class NativeHttpEngine implements Engine {
  readonly #opts: NativeHttpEngineOptions;
  readonly #addon: HttpAddon;
  #plane: NativeHttpPlane | null = null;
  /**
   * The listening socket as a libuv handle that is never polled here (the plane's threads accept on
   * their own descriptor): what {@link handle} hands to a successor daemon, closed at close().
   */
  #keeper: KeptHandle | null = null;
  #address: { host: string; port: number } | null = null;
  /** Ids of the current targets. */
  #current = new Set<string>();
  /** What setTargets was last told, so that targets set before listen() reach the plane. */
  #targets: { targets: Target[]; hold: boolean } = { targets: [], hold: true };
  /** drain() waiters per target id, woken by the plane's `idle` event. */
  readonly #waiters = new Map<string, Set<() => void>>();
  #closed: Promise<void> | null = null;
  #onClosed: (() => void) | null = null;
  /**
   * Keeps Node's event loop alive while the engine listens, as a listening net.Server does: the
   * plane's threads and its unpolled listener handle do not (a process whose only work is this
   * engine, bench/engine-proxy.mjs, would otherwise exit after listen()).
   */
  #alive: NodeJS.Timeout | null = null;

  /** Binds nothing; `listen()` does. */
  constructor(opts: NativeHttpEngineOptions, addon: HttpAddon) {
    this.#opts = opts;
    this.#addon = addon;
  }

  async listen(): Promise<void> {
    const o = this.#opts;
    let plane: NativeHttpPlane;
    try {
      plane = new this.#addon.HttpPlane((ev) => this.#event(ev), {
        queueTimeoutMs: o.queueTimeoutMs,
        ...(o.headerTimeoutMs !== undefined && { headerTimeoutMs: o.headerTimeoutMs }),
        ...(o.maxHeaderBytes !== undefined && { maxHeaderBytes: o.maxHeaderBytes }),
        ...(o.keepAliveMs !== undefined && { clientIdleMs: o.keepAliveMs }),
        ...(o.upstreamTimeoutMs !== undefined && { upstreamTimeoutMs: o.upstreamTimeoutMs }),
        ...(o.upstreamIdleMs !== undefined && { upstreamIdleMs: o.upstreamIdleMs }),
        ...(o.maxConnections !== undefined && { maxConnections: o.maxConnections }),
        trustedProxies: o.trustedProxies ?? [],
        ...o.plane,
      });
    } catch (err) {
      throw new GvError('GV_ERR_ENGINE_UNAVAILABLE', `app ${o.app}: the native http data plane cannot start: ${(err as Error).message}`, { cause: err, details: { app: o.app } });
    }
    try {
      if (o.listenHandle) {
        // A socket a previous daemon listened on: the plane dups it; the handle stays ours to hand on.
        const keeper = o.listenHandle as KeptHandle;
        plane.listen(handleFd(keeper));
        this.#keeper = keeper;
        const out: Record<string, unknown> = {};
        keeper.getsockname?.(out);
        this.#address = { host: typeof out.address === 'string' ? out.address : o.host, port: typeof out.port === 'number' ? out.port : o.port };
      } else {
        const server = net.createServer();
        await listenOn(server, o, 'http');
        const a = server.address() as net.AddressInfo;
        this.#address = { host: a.address, port: a.port };
        const fd = handleFd((server as unknown as { _handle: object })._handle);
        const copy = this.#addon.dupFd(fd);
        try {
          plane.listen(fd);
        } finally {
          // The same tick as listen: libuv has not polled the server's descriptor, so it never accepts.
          server.close();
        }
        this.#keeper = (new net.Socket({ fd: copy, readable: false, writable: false }) as unknown as { _handle: KeptHandle })._handle;
      }
    } catch (err) {
      plane.destroy();
      if (err instanceof GvError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new GvError('GV_ERR_ENGINE_LISTEN', `app ${o.app}: the native http data plane cannot listen on ${o.host}:${o.port}: ${code ?? (err as Error).message}`, {
        cause: err, details: { app: o.app, host: o.host, port: o.port },
      });
    }
    this.#plane = plane;
    if (this.#targets.targets.length > 0 || !this.#targets.hold) this.setTargets(this.#targets.targets, { hold: this.#targets.hold });
    this.#alive = setInterval(() => {}, 2 ** 31 - 1);
  }

  address(): { host: string; port: number } {
    return this.#address ?? { host: this.#opts.host, port: this.#opts.port };
  }

  handle(): object | null {
    return this.#closed === null ? this.#keeper : null;
  }

  setTargets(targets: Target[], opts: SetTargetsOptions = {}): void {
    this.#targets = { targets: [...targets], hold: opts.hold ?? true };
    const plane = this.#plane;
    if (!plane || this.#closed) return;
    plane.setTargets(targets.map((t) => ({ id: t.id, host: t.host, port: t.port })), opts.hold ?? true);
    const before = this.#current;
    this.#current = new Set(targets.map((t) => t.id));
    // An old target with nothing in flight is forgotten now (as TargetSet does); one with work, once drained.
    for (const id of before) if (!this.#current.has(id) && plane.inFlight(id) === 0) plane.forget(id);
  }

  async drain(target: Target, timeoutMs: number): Promise<DrainResult> {
    const started = performance.now();
    const plane = this.#plane;
    if (!plane || !plane.drain(target.id)) return { drained: true, open: 0, elapsedMs: 0 };
    if (plane.inFlight(target.id) > 0) {
      await new Promise<void>((resolve) => {
        const list = this.#waiters.get(target.id) ?? new Set<() => void>();
        const done = (): void => {
          clearTimeout(timer);
          list.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        list.add(done);
        this.#waiters.set(target.id, list);
      });
    }
    const open = this.#plane ? Math.max(0, this.#plane.inFlight(target.id)) : 0;
    if (open === 0 && this.#plane && !this.#current.has(target.id)) this.#plane.forget(target.id);
    return { drained: open === 0, open, elapsedMs: Math.round(performance.now() - started) };
  }

  stats(): EngineStats {
    const s = this.#plane?.stats();
    if (!s) return { connections: 0, requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, targets: [], held: { now: 0, total: 0, totalMs: 0 } };
    return {
      connections: s.connections,
      requests: s.requests,
      errors: Object.values(s.errors).reduce((a, b) => a + b, 0),
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      targets: s.targets.map((t) => ({ id: t.id, connections: t.connections, inFlight: t.inFlight, total: t.total, bytesIn: t.bytesIn, bytesOut: t.bytesOut })),
      held: { now: s.held, total: s.heldTotal, totalMs: s.heldSeconds * 1000 },
      http: httpStats(s),
    };
  }

  close(timeoutMs?: number): Promise<void> {
    this.#closed ??= this.#close(timeoutMs);
    return this.#closed;
  }

  /**
   * The contract's retire: the successor accepts now. Stop accepting, answer every further response
   * with `Connection: close` (idle keep-alive clients are closed by the plane), and close once no
   * client connection is left, or at `timeoutMs`.
   */
  async retire(timeoutMs: number): Promise<void> {
    const plane = this.#plane;
    if (!plane || this.#closed) return this.close(0);
    plane.stopAccepting();
    plane.setConnectionClose(true);
    const deadline = performance.now() + timeoutMs;
    while (this.#plane && this.#plane.stats().connections > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, RETIRE_POLL_MS));
    }
    return this.close(Math.max(0, deadline - performance.now()));
  }

  async #close(timeoutMs: number | undefined): Promise<void> {
    const plane = this.#plane;
    this.#keeper?.close();
    this.#keeper = null;
    if (this.#alive) clearInterval(this.#alive);
    this.#alive = null;
    if (!plane) return;
    const closed = new Promise<void>((resolve) => (this.#onClosed = resolve));
    plane.close(timeoutMs === undefined || !Number.isFinite(timeoutMs) ? undefined : Math.max(0, timeoutMs));
    await closed;
    plane.destroy();
    this.#plane = null;
    for (const list of this.#waiters.values()) for (const w of [...list]) w();
    this.#waiters.clear();
  }

  #event(ev: PlaneEvent): void {
    if (ev.type === 'idle') {
      const list = this.#waiters.get(ev.target);
      // An idle event can be stale: work started again since it was sent.
      if (!list || (this.#plane?.inFlight(ev.target) ?? 0) > 0) return;
      this.#waiters.delete(ev.target);
      for (const w of [...list]) w();
    } else if (ev.type === 'log') {
      this.#opts.log('warn', ev.msg, { app: this.#opts.app, ...(ev.target && { target: ev.target }), ...(ev.code && { error: ev.code }) });
    } else if (ev.type === 'closed') {
      this.#onClosed?.();
    }
  }
}

/** The contract's per-response counters from the plane's. */
function httpStats(s: PlaneStats): NonNullable<EngineStats['http']> {
  const answered: Record<string, number> = {};
  for (const [status, n] of Object.entries(s.errors)) answered[status] = n;
  return {
    responses: { ...s.responses },
    answered,
    latency: { bounds: [...s.duration.le], counts: [...s.duration.counts], sum: s.duration.sum, count: s.duration.counts.reduce((a, b) => a + b, 0) },
  };
}
