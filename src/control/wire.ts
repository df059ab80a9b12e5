/**
 * The control API's wire format, shared by the server (./server.ts) and the client (./client.ts) so
 * the two never disagree: the API version prefix, the response bodies (the server's route handlers
 * are typed to return them, the client reads them), the error body, and which HTTP status each
 * error code travels with.
 */
import type { AppStatus, ReloadResult, RestartResult } from '../supervisor/api.js';
import type { RegistryEntry } from '../plugins/types.js';
import type { AlertTestResult, GvEvent } from '../observe/index.js';
import type { ErrorCode, SourcePosition } from '../errors.js';

/** Every route lives under this prefix; a future incompatible API gets `/v2`. */
export const API_PREFIX = '/v1';

/** Name of the generated token file inside `run_dir`, written when TCP is on and no token is configured. */
export const TOKEN_FILE_NAME = 'control.token';

/** One error as it crosses the wire. `errors` lists every problem of a config that failed to load. */
export interface WireError {
  code: ErrorCode;
  message: string;
  pos?: SourcePosition;
  details?: Record<string, unknown>;
  errors?: WireError[];
}

/** The body of every non-2xx response. */
export interface ErrorBody {
  error: WireError;
}

/** `GET /v1/status[/:app]`. */
export interface StatusBody {
  apps: AppStatus[];
}

/** `POST /v1/apps/:app/{start,stop,kill}`, `POST /v1/apps`. */
export interface AppBody {
  app: AppStatus;
}

/** `POST /v1/apps/:app/restart`. */
export type RestartBody = RestartResult;

/** `POST /v1/restart-all`. */
export interface RestartAllBody {
  results: RestartResult[];
}

/** `POST /v1/reload`. */
export type ReloadBody = ReloadResult;

/** `DELETE /v1/apps/:app`. */
export interface RemoveBody {
  removed: string;
}

/** `GET /v1/plugins`: every registry entry, and what of the config uses it (app names, or alert routes). */
export interface PluginsBody {
  plugins: (RegistryEntry & { usedBy?: string[] })[];
}

/** `GET /v1/events` (without follow). */
export interface EventsBody {
  events: GvEvent[];
}

/** `POST /v1/alerts/test`. */
export interface AlertTestBody {
  results: AlertTestResult[];
}

/** `GET /v1/version`. */
export interface VersionBody {
  version: string;
  node: string;
  /** The daemon's pid. */
  pid: number;
  /** The pid of gracevisord's holder it runs under (the process that was started), or null (`--no-holder`). */
  holder: number | null;
}

/**
 * The HTTP status an error code travels with. Config errors are 422 (the request was well formed,
 * the file it points at is not); conflicts with the app's current state are 409; anything the
 * supervisor reports that is not the caller's fault is 500.
 */
export function httpStatusFor(code: string): number {
  if (code === 'GV_ERR_CONTROL_BAD_REQUEST') return 400;
  if (code === 'GV_ERR_CONTROL_UNAUTHORIZED') return 401;
  if (code === 'GV_ERR_CONTROL_NOT_FOUND' || code === 'GV_ERR_APP_NOT_FOUND') return 404;
  if (code === 'GV_ERR_APP_EXISTS' || code === 'GV_ERR_APP_STATE' || code === 'GV_ERR_HOOK_VETO' || code === 'GV_ERR_DAEMON_UPGRADING') return 409;
  if (code.startsWith('GV_ERR_CONFIG_') || code === 'GV_ERR_PLUGIN_NOT_FOUND') return 422;
  return 500;
}

/** `POST /v1/upgrade`: the daemon that took over. */
export interface UpgradeBody {
  /** The pid of the daemon that served before, and of the one that serves now. */
  from: { pid: number; version: string };
  to: { pid: number; version: string };
  /** How long the handover took, ms, from the request to the new daemon serving. */
  durationMs: number;
}
