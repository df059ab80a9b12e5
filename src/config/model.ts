/**
 * The resolved, frozen configuration: what the resolver (src/config/resolve.ts) produces from either
 * syntax and what the supervisor, engines and control plane read. Keys keep the seed's snake_case names.
 * Durations are milliseconds, sizes are bytes; `null` means "no limit" where the seed says so.
 */
import type { SourcePosition } from '../errors.js';

/** Log settings, global or per app after inheritance from the global `logger`. */
export interface LoggerConfig {
  /** Directory for logs (default /var/log/gracevisor). */
  log_dir: string;
  /** Global: the daemon's own log (default `<log_dir>/gracevisor.log`). App: stdout+stderr together. */
  log_file: string | null;
  /** Max size of one log file in bytes before rotation (default 500 MB). */
  max_log_size: number;
  /** Rotated files to keep; null keeps all (the seed's -1). */
  max_logs_kept: number | null;
  /** Max age of a log file in ms before rotation; null is no age limit (the seed's -1). */
  max_log_age: number | null;
  /**
   * App logs: `prefixed` marks each line with its time, instance and stream; `raw` keeps exactly
   * what the app printed. Inherited; the daemon's own log has its own format.
   */
  log_format: 'prefixed' | 'raw';
}

/** An app's logger: the global fields plus per-stream files, resolved to absolute paths. */
export interface AppLoggerConfig extends LoggerConfig {
  /** Absolute path of the file stdout goes to. */
  stdout_log_file: string;
  /** Absolute path of the file stderr goes to (may equal stdout_log_file). */
  stderr_log_file: string;
}

/** The user an app runs as; null runs it as the daemon's user. */
export interface UserConfig {
  username: string;
}

/**
 * A health check. The original format's string form (`healthcheck: /health`) becomes
 * `{ type: 'http', path: '/health', ... }`. Other fields belong to the check type's plugin,
 * which parses them; the model keeps them open.
 */
export interface HealthcheckConfig {
  /** Registry id suffix: `http` means `healthchecks.http`. */
  type: string;
  /** Time between liveness probes while serving, ms. */
  interval: number;
  /** Time one probe may take, ms. */
  timeout: number;
  /** Consecutive failures before a serving instance is `unhealthy`. */
  unhealthy_threshold: number;
  /** Type-specific options (path, expect_status, command, …) as given. */
  [option: string]: unknown;
}

/**
 * One alert route: where alerts of which events go (`type` is `alerters.<type>`), how often one
 * (app, event) may alert (`interval`: the rest in it are folded into a count), how long a delivery
 * may take and how often it is retried. Other fields are the type's own options.
 */
export interface AlertConfig {
  type: string;
  events: string[];
  /** ms: one alert per app and event per interval. */
  interval: number;
  /** ms one delivery may take. */
  timeout: number;
  /** Deliveries tried again after a failure, with backoff. */
  retries: number;
  [option: string]: unknown;
}

/** Prometheus and StatsD. */
export interface MetricsConfig {
  /** A listener of its own for scrapers, or null (`/metrics` is on the control API always). */
  listen: { host: string; port: number } | null;
  /** Token required on that listener, or null for none. */
  token: string | null;
  /** Where StatsD is pushed, or null. `interval`: ms between pushes of the engine counters. */
  statsd: { host: string; port: number; prefix: string; interval: number } | null;
}

/** One app. */
export interface AppConfig {
  name: string;
  /** Command line as written; `{port}` is filled in at spawn. */
  command: string;
  /** `KEY=value` strings added to the daemon's environment; `{port}` is filled in. */
  environment: string[];
  /** Working directory (absolute), or null for the daemon's. */
  directory: string | null;
  healthcheck: HealthcheckConfig | null;
  internal_host: string;
  external_host: string;
  external_port: number;
  /** Engine id suffix: `http`, `tcp`, `splice`, or one a plugin registered. */
  proxy: string;
  /** Signal name without SIG: `TERM`, `INT`, `QUIT`, … */
  stop_signal: string;
  max_retries: number;
  /** ms, or null for no timeout. */
  start_timeout: number | null;
  /** ms, or null for no timeout (then the old instance is never SIGKILLed). */
  stop_timeout: number | null;
  /** ms an old instance may finish in-flight work after the switch. */
  drain_timeout: number;
  /** How many instances serve at once. */
  instances: number;
  /** ms the engine holds new work while no instance is ready, before refusing it (http: 503). */
  queue_timeout: number;
  /** http: ms from sending a request to an instance until its response head, before a 504. */
  upstream_timeout: number;
  /** http: ms an idle keep-alive connection to an instance is kept. */
  upstream_idle_timeout: number;
  /** http: ms an idle client keep-alive connection is kept. */
  keepalive_timeout: number;
  /** http: ms a client has to send a complete request head, before a 408. */
  header_timeout: number;
  /** http: bytes a request head (request line and headers) may take, before a 431. */
  max_header_size: number;
  /** Most client connections open at once on this app's listener; null: the daemon-wide cap only. */
  max_connections: number | null;
  /** http: peers (addresses or CIDR blocks) whose own X-Forwarded-Proto and -Host are passed on. */
  trusted_proxies: string[];
  user: UserConfig | null;
  logger: AppLoggerConfig;
  /** The app's own alert routes (added to the global ones unless `global_alerts` is false). */
  alerts: AlertConfig[];
  /** False when the app wrote `alerts: []`: the global routes do not apply to it. */
  global_alerts: boolean;
  /** Where this app was defined, for error messages and for `reload` diffs. */
  source: SourcePosition;
}

/** The whole configuration. */
/**
 * The live web dashboard (src/control/web/): off unless the config has a `web` section. It asks
 * for the same token as the control API's TCP listener.
 */
export interface WebConfig {
  /** Where the dashboard listens (its own listener; loopback unless `behind_tls`). */
  listen: { host: string; port: number };
  /**
   * True when a TLS-terminating proxy sits in front of it: a non-loopback `listen` is then not warned
   * about at start, and the session cookie is marked `Secure`.
   */
  behind_tls: boolean;
}

export interface Config {
  /** Absolute path of the main config file. */
  file: string;
  port_range: { from: number; to: number };
  rpc: {
    /** Unix socket path for the control API (always on). */
    socket: string;
    /** TCP host for the control API, or null when not configured. */
    host: string | null;
    /** TCP port, or null when not configured. */
    port: number | null;
    /** Token required on the TCP listener. */
    token: string | null;
    /** File to read the token from. */
    token_file: string | null;
  };
  /** Directory for the state file (pids of running instances) and the generated token. */
  run_dir: string;
  logger: LoggerConfig;
  user: UserConfig | null;
  /** Plugin specifiers resolved: absolute paths or package names. */
  plugins: string[];
  /** Most client connections open at once over every app; null: derived from the file descriptor limit. */
  max_connections: number | null;
  /** The global alert routes. */
  alerts: AlertConfig[];
  metrics: MetricsConfig;
  /** The web dashboard, or null when it is off (the default). */
  web: WebConfig | null;
  apps: AppConfig[];
}
