/**
 * What the Supervisor offers the control plane. The control API server (src/control/) calls only
 * these methods; the Supervisor class (./supervisor.ts) implements them. Every failure is a GvError.
 */
import type { EngineStats } from '../plugins/engine.js';
import type { InstanceState, RegistryEntry } from '../plugins/types.js';

/** One instance as `status` shows it. */
export interface InstanceStatus {
  id: string;
  pid: number | null;
  port: number;
  state: InstanceState;
  /** ms since the last state change. */
  sinceMs: number;
  /** True when the engine sends new work to it. */
  active: boolean;
  startedAt: string;
  /** ms since it was spawned. */
  uptimeMs: number;
  /** CPU seconds used by its process group, or null when /proc cannot tell. */
  cpuSeconds: number | null;
  /** Resident memory of its process group, bytes, or null. */
  rssBytes: number | null;
  /** Liveness probes that failed (with a health check). */
  probeFailures: number;
  lastError: string | null;
}

/** One app as `status` shows it. */
export interface AppStatus {
  name: string;
  /** `host:port` of the public listener. */
  address: string;
  /** Engine id suffix: `http`, `tcp`, `splice`. */
  engine: string;
  /** `running` (≥1 serving), `starting`, `restarting`, `stopped` (by an operator), `fatal` (gave up), `stopping`. */
  state: 'running' | 'starting' | 'restarting' | 'stopping' | 'stopped' | 'fatal';
  instances: InstanceStatus[];
  /** Restarts that completed: an operator's or a reload's, and every crashed or unhealthy instance replaced. */
  restarts: number;
  /** Consecutive failed attempts now (the backoff level); 0 when healthy. */
  failures: number;
  lastError: string | null;
  stats: EngineStats;
}

/** What a restart did. */
export interface RestartResult {
  app: string;
  ok: boolean;
  /** Instances now serving. */
  serving: string[];
  durationMs: number;
  /** True when this call joined a restart that was already running. */
  coalesced: boolean;
  error?: { code: string; message: string };
}

/** What a reload did. */
export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/** Where an app's logs are. */
export interface LogFiles {
  stdout: string;
  stderr: string;
}

/** The operations the control plane may ask of the supervisor. */
export interface SupervisorApi {
  status(app?: string): AppStatus[];
  startApp(name: string): Promise<AppStatus>;
  /** Graceful: drain, then stop; the public listener stays open and answers 503 (http) / refuses (tcp). */
  stopApp(name: string): Promise<AppStatus>;
  restartApp(name: string): Promise<RestartResult>;
  restartAll(): Promise<RestartResult[]>;
  /** SIGKILL every instance now, no drain. */
  killApp(name: string): Promise<AppStatus>;
  /** Re-read the config file the daemon was started with. Rejects with the config error; changes nothing then. */
  reload(): Promise<ReloadResult>;
  /** Add one app from a file (either syntax). */
  addApp(file: string): Promise<AppStatus>;
  removeApp(name: string): Promise<void>;
  logFiles(name: string): LogFiles;
  /** The daemon's own log file, or null when it writes none. */
  daemonLogFile(): string | null;
  plugins(): RegistryEntry[];
  /** Stop everything and resolve when all apps are stopped. */
  shutdown(signal?: string | null): Promise<void>;
}
