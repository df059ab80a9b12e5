/**
 * The native http data plane (native/src/http-*.{h,cc}, node-gyp target gracevisor_http): its
 * JavaScript interface, and loading it. The plane runs its own epoll thread(s): it accepts on the
 * listening socket it is given, parses and forwards every request (strict RFC 9112 framing), keeps
 * keep-alive pools to the targets and answers 400/408/431/502/503/504 itself. JavaScript tells it
 * the targets, asks it to drain one, and reads its counters.
 */
import { defaultAddonPath, loadAddon, type AddonLoad } from '../native-addon.js';

/** The plane's options; numbers that are not finite and non-negative fall back to its default. */
export interface PlaneOptions {
  /** Data-plane threads (1..64), all accepting on the one listening socket. Default 1. */
  threads?: number;
  /** Request head limit (request line + headers), bytes; a larger head gets 431. Default 16384. */
  maxHeaderBytes?: number;
  /** From accept (or a keep-alive request's first byte) until its head is complete, ms; then 408. */
  headerTimeoutMs?: number;
  /** An idle keep-alive client is closed after this, ms. */
  clientIdleMs?: number;
  /** How long a request is held while there is no target, ms; then 503. */
  queueTimeoutMs?: number;
  /** How long a retry whose only target failed waits for a replacement before its last try there, ms. */
  retryGraceMs?: number;
  /** Held requests per plane; beyond it 503 at once. */
  maxHeld?: number;
  /** An upstream silent this long (no response byte, no request progress) gets 504, ms. */
  upstreamTimeoutMs?: number;
  /** Idle keep-alive upstream connections are closed after this, ms. */
  upstreamIdleMs?: number;
  /** Client connections per plane; at the cap the oldest one without a complete head is shed. */
  maxConnections?: number;
  /** Peers whose X-Forwarded-* are kept (addresses or CIDR blocks). */
  trustedProxies?: readonly string[];
  /** The X-Forwarded-Proto value. Default `http`. */
  proto?: string;
}

/** What the plane reports on the main thread. */
export type PlaneEvent =
  | { type: 'idle'; target: string }
  | { type: 'log'; level: 'warn'; msg: string; target?: string; code?: string }
  | { type: 'closed' };

/** One target's counters in {@link PlaneStats}. */
export interface PlaneTargetStats {
  id: string;
  current: boolean;
  draining: boolean;
  connections: number;
  idle: number;
  inFlight: number;
  total: number;
  bytesIn: number;
  bytesOut: number;
}

/** A snapshot of the plane's counters, summed over its threads. */
export interface PlaneStats {
  connections: number;
  connectionsTotal: number;
  requests: number;
  errors: Record<'400' | '408' | '431' | '502' | '503' | '504', number>;
  responses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  bytesIn: number;
  bytesOut: number;
  /** Seconds; counts per bucket (not cumulative), the last one above every bound. */
  duration: { le: number[]; counts: number[]; sum: number };
  held: number;
  heldTotal: number;
  heldSeconds: number;
  retries: number;
  upstreamConnects: number;
  acceptErrors: number;
  shed: number;
  targets: PlaneTargetStats[];
}

/** One plane: created idle, serving after listen(fd). Every method is synchronous. */
export interface NativeHttpPlane {
  /** Dups a bound, listening socket fd and starts the threads (throws with `code` otherwise). */
  listen(fd: number): void;
  /** The current targets; `hold` decides what an empty list does (see Engine.setTargets). */
  setTargets(targets: { id: string; host: string; port: number }[], hold?: boolean): void;
  /** Close the target's idle upstream connections; an `idle` event follows at in-flight 0. False: unknown id. */
  drain(id: string): boolean;
  /** In-flight requests and tunnels of the target, -1 when unknown. */
  inFlight(id: string): number;
  /** Drop a target that is not current from the stats. */
  forget(id: string): boolean;
  /** Stop accepting (connections wait in the kernel for whoever else holds the socket). */
  stopAccepting(): void;
  /** Every further response says `Connection: close`; idle keep-alive clients are closed. */
  setConnectionClose(on?: boolean): void;
  /** Graceful close; a `closed` event follows once every thread exited. */
  close(timeoutMs?: number): void;
  /** Reset everything now and join the threads. Idempotent. */
  destroy(): void;
  stats(): PlaneStats;
}

/** The addon module's exports. */
export interface HttpAddon {
  HttpPlane: new (onEvent: (ev: PlaneEvent) => void, options?: PlaneOptions) => NativeHttpPlane;
  /** A new close-on-exec descriptor of the same socket. */
  dupFd(fd: number): number;
  platform: string;
}

/** Where `npm ci` (scripts/build-native.mjs) puts the addon. */
export const defaultHttpAddonPath = defaultAddonPath('gracevisor_http');

/** Loads the addon at `path` (default: the one built at install); never throws. */
export function loadHttpAddon(path: string = defaultHttpAddonPath): AddonLoad<HttpAddon> {
  return loadAddon<HttpAddon>(path, { label: 'http data plane', note: 'UNAVAILABLE.http', is: (m) => typeof m.HttpPlane === 'function' && typeof m.dupFd === 'function' });
}
