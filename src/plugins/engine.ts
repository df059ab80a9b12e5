/**
 * The engine contract, part of the plugin API (docs/architecture.md "Engines"). An engine owns one
 * app's public listener and routes new work to the app's current targets. The supervisor only ever
 * talks to an engine through this; the built-in engines (src/engines/) implement it like any plugin's.
 */

/** One place an engine may send work: an instance's internal address. */
export interface Target {
  /** The instance id, stable for the instance's life (e.g. `demo#3`). */
  id: string;
  host: string;
  port: number;
}

/** What `drain()` found when it resolved. */
export interface DrainResult {
  /** True when in-flight work reached zero; false when the timeout passed first. */
  drained: boolean;
  /** In-flight requests (http) or connections (tcp) still open when it resolved. */
  open: number;
  /** ms drain took. */
  elapsedMs: number;
}

/** Counters for one target. */
export interface TargetStats {
  id: string;
  /** Connections open to this target right now. */
  connections: number;
  /** Requests (http) or connections (tcp) in flight right now; what drain waits on. */
  inFlight: number;
  /** Requests (http) or connections (tcp) handled since the target was first set. */
  total: number;
  bytesIn: number;
  bytesOut: number;
}

/** Request durations as a cumulative-free histogram: `counts[i]` fell at or under `bounds[i]` seconds (and above the one before); the last count is above every bound. */
export interface LatencyStats {
  bounds: number[];
  counts: number[];
  /** Sum of every duration, seconds. */
  sum: number;
  count: number;
}

/** What an http engine counts per response (for metrics; an engine that has none leaves it out). */
export interface HttpStats {
  /** Responses by status class, whoever answered. */
  responses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** Answers the engine gave itself, by status (400, 502, 503, 504). */
  answered: Record<string, number>;
  /** Time from a request's arrival to the end of its response. */
  latency: LatencyStats;
}

/** Work held while there was no target. */
export interface HeldStats {
  /** Held now. */
  now: number;
  /** Held since listen(). */
  total: number;
  /** Time everything held so far waited, ms. */
  totalMs: number;
}

/** Counters for the whole engine. */
export interface EngineStats {
  /** Client connections open on the public listener. */
  connections: number;
  /** Requests (http) or connections (tcp) handled since listen(). */
  requests: number;
  /** Requests answered with an error by the engine itself (502/503) or connections refused. */
  errors: number;
  bytesIn: number;
  bytesOut: number;
  targets: TargetStats[];
  /** Work held while there was no target (engines that hold). */
  held?: HeldStats;
  /** Per-response counters (http engines). */
  http?: HttpStats;
}

/** How an engine treats new work while it has no target. */
export interface SetTargetsOptions {
  /** Hold new work (up to queueTimeoutMs) while there is no target; false refuses it at once. Default true. */
  hold?: boolean;
}

/** One app's proxy. Construction binds nothing; `listen()` does. */
export interface Engine {
  /** Bind the app's external host:port. Rejects with GV_ERR_ENGINE_LISTEN. */
  listen(): Promise<void>;
  /** The address actually bound (useful with port 0 in tests). */
  address(): { host: string; port: number };
  /**
   * Who gets new work from now on. With an empty list, new work is held for up to queueTimeoutMs
   * when `hold` is true (the default: an instance is on its way, e.g. after a crash) and then refused;
   * with `hold: false` (the app is stopped or gave up) it is refused at once — http answers 503, tcp
   * closes — and work already held is refused too.
   */
  setTargets(targets: Target[], opts?: SetTargetsOptions): void;
  /** Resolves when `target` has no in-flight work, or after timeoutMs. Never rejects. */
  drain(target: Target, timeoutMs: number): Promise<DrainResult>;
  stats(): EngineStats;
  /** Stop accepting, wait for in-flight work (up to timeoutMs, default unbounded), then release everything. */
  close(timeoutMs?: number): Promise<void>;
  /**
   * Hand over to a successor daemon that now accepts on the same socket: stop accepting, keep
   * serving the work of open client connections (http: each response says `Connection: close`, so
   * keep-alive clients reconnect — to the successor — without an error; idle ones are closed after a
   * moment), and resolve when they are all gone, or after timeoutMs (the rest is cut). Optional:
   * without it, `close(timeoutMs)` is used.
   */
  retire?(timeoutMs: number): Promise<void>;
  /**
   * The listening socket's handle once listening (for a daemon upgrade to hand over, see
   * `EngineOptions.listenHandle`), or null. Optional: an engine without it is bound afresh.
   */
  handle?(): object | null;
}

/**
 * A cap on connections shared by every engine of one daemon, so that the apps together never use
 * the file descriptors the control API and the log files need.
 */
export interface ConnectionBudget {
  /** Take one connection's place; false when none is left (the caller refuses the connection). */
  take(): boolean;
  /** Give a place back (the connection closed). */
  release(): void;
}

/** What an engine factory is given: the app's address and its engine settings (docs/engines.md). */
export interface EngineOptions {
  /** App name, for logs and headers. */
  app: string;
  host: string;
  port: number;
  /** How long to hold new work while there is no target before refusing it (http: 503), ms (`queue_timeout`). */
  queueTimeoutMs: number;
  /** Where the engine reports things worth a log line. */
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Most client connections open at once (`max_connections`); unlimited when absent. */
  maxConnections?: number;
  /** The daemon-wide connection cap every engine shares; none when absent. */
  budget?: ConnectionBudget;
  /** http: time from sending a request upstream to its response's head, before a 504, ms (`upstream_timeout`). */
  upstreamTimeoutMs?: number;
  /** http: how long an idle keep-alive connection to an instance is kept, ms (`upstream_idle_timeout`). */
  upstreamIdleMs?: number;
  /** http: how long an idle client keep-alive connection is kept, ms (`keepalive_timeout`). */
  keepAliveMs?: number;
  /** http: time a client has to send a complete request head, before a 408, ms (`header_timeout`). */
  headerTimeoutMs?: number;
  /** http: bytes a request head may take, before a 431 (`max_header_size`). */
  maxHeaderBytes?: number;
  /** http: peers whose own X-Forwarded-Proto/-Host are passed on (addresses or CIDR blocks, `trusted_proxies`). */
  trustedProxies?: readonly string[];
  /**
   * A listening socket handed over from a previous daemon (an upgrade, or a restart after a crash):
   * `listen()` serves on it instead of binding host:port, so no connection is refused meanwhile.
   * It is the opaque handle Node's `net.Server.listen(handle)` takes. An engine that cannot use one
   * leaves `handle()` out; it then binds afresh.
   */
  listenHandle?: object;
}

/** How a plugin contributes an engine (registered as `engines.<key>`). */
export interface EngineDefinition {
  /** One line for `plugins list`. */
  description: string;
  /** Null when usable; otherwise the reason it is not (e.g. the native addon is missing). */
  unavailable?: () => string | null;
  create(opts: EngineOptions): Engine;
}
