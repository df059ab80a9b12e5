/**
 * Every error gracevisor raises on purpose carries a stable code from this one table.
 * Tests, the control API and gracevisorctl match on `code`, never on message text.
 */
export const ErrorCodes = {
  // configuration
  GV_ERR_CONFIG_SYNTAX: 'the config text does not parse',
  GV_ERR_CONFIG_UNKNOWN_KEY: 'a key that gracevisor does not know',
  GV_ERR_CONFIG_TYPE: 'a value of the wrong type',
  GV_ERR_CONFIG_RANGE: 'a value out of its allowed range',
  GV_ERR_CONFIG_REQUIRED: 'a required key is missing',
  GV_ERR_CONFIG_DURATION: 'a duration that does not parse',
  GV_ERR_CONFIG_SIZE: 'a size that does not parse',
  GV_ERR_CONFIG_PORT_PLACEHOLDER: 'neither command nor environment has {port}',
  GV_ERR_CONFIG_DUPLICATE_APP: 'two apps with one name',
  GV_ERR_CONFIG_DUPLICATE_LISTEN: 'two apps on one external host:port',
  GV_ERR_CONFIG_DUPLICATE_KEY: 'a key given twice',
  GV_ERR_CONFIG_INCLUDE_MISSING: 'an included file or folder does not exist',
  GV_ERR_CONFIG_INCLUDE_CYCLE: 'a file includes itself through a chain of includes',
  GV_ERR_CONFIG_NOT_FOUND: 'the config file or folder does not exist',
  GV_ERR_CONFIG_READ: 'the config file cannot be read',
  GV_ERR_CONFIG_PLUGIN_LOAD: 'a plugin named in the config failed to load',
  GV_ERR_CONFIG_HEALTHCHECK: 'a healthcheck block its type rejects',
  GV_ERR_CONFIG_ENGINE_UNAVAILABLE: 'the config asks for an engine that is not available here',
  GV_ERR_CONFIG_ENGINE_UNKNOWN: 'the config asks for an engine no plugin registered',
  GV_ERR_CONFIG_USER: 'a user that does not exist or cannot be switched to',
  GV_ERR_CONFIG_ALERT: 'an alerts entry its type rejects, or of a type no plugin registered',
  GV_ERR_CONFIG_COMMAND: 'a command with shell syntax (gracevisor runs commands without a shell)',
  GV_ERR_CONFIG_DIRECTORY: 'a warning: an app directory that does not exist (yet)',
  GV_ERR_CONFIG_LIMIT: 'a config load hit one of its bounds (file size, file count, nesting depth, alias expansion, time or memory)',
  // plugins and hooks
  GV_ERR_PLUGIN_NO_NAME: 'a plugin without a name',
  GV_ERR_PLUGIN_INVALID: 'a plugin that is not a plain object of the expected shape',
  GV_ERR_PLUGIN_API_VERSION: 'a plugin written for an unsupported apiVersion',
  GV_ERR_PLUGIN_DUPLICATE_ID: 'two registrations of one registry id',
  GV_ERR_PLUGIN_DUPLICATE_NAME: 'two plugins with one name',
  GV_ERR_PLUGIN_UNKNOWN_HOOK: 'a hook name not in the hook table',
  GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION: 'a hook handler or factory that is not a function',
  GV_ERR_PLUGIN_NOT_FOUND: 'a registry id that nothing registered',
  GV_ERR_HOOK_TIMEOUT: 'a hook handler that did not settle in time',
  GV_ERR_HOOK_HANDLER: 'a hook handler that threw',
  GV_ERR_HOOK_VETO: 'a pre* hook vetoed a transition',
  // engines
  GV_ERR_ENGINE_LISTEN: 'an engine could not bind its address',
  GV_ERR_ENGINE_UNAVAILABLE: 'an engine whose native part is missing',
  // supervisor
  GV_ERR_APP_NOT_FOUND: 'no app by that name',
  GV_ERR_APP_EXISTS: 'an app by that name already exists',
  GV_ERR_APP_STATE: 'the app is not in a state that allows this',
  GV_ERR_PORT_EXHAUSTED: 'no free port left in port_range',
  GV_ERR_SPAWN: 'the app command could not be started',
  GV_ERR_START_FAILED: 'a new instance exited before it was ready',
  GV_ERR_START_TIMEOUT: 'a new instance was not ready within start_timeout',
  GV_ERR_HEALTHCHECK_FAILED: 'a new instance failed its health check',
  GV_ERR_RESTART_FAILED: 'a restart did not complete; the old instance keeps serving',
  GV_ERR_USER_SWITCH: 'the daemon cannot run an app as another user',
  GV_ERR_STATE_FILE: 'the run directory state file cannot be read or written',
  GV_ERR_DAEMON_RUNNING: 'another daemon already holds this run directory',
  GV_ERR_DAEMON_UPGRADING: 'the daemon is handing over to its successor: nothing can be changed until it is done',
  GV_ERR_UPGRADE_FAILED: 'the new daemon could not take over; the running one keeps serving',
  // control plane
  GV_ERR_CONTROL_BAD_REQUEST: 'a malformed control request',
  GV_ERR_CONTROL_UNAUTHORIZED: 'a control request without the right token',
  GV_ERR_CONTROL_NOT_FOUND: 'no such control endpoint',
  GV_ERR_CONTROL_UNREACHABLE: 'the daemon is not running or its control socket is unreachable',
  GV_ERR_CONTROL_FAILED: 'the daemon refused or failed the command',
  GV_ERR_CONTROL_LISTEN: 'the control API cannot bind its socket or port (another daemon may own it)',
  // web dashboard (src/control/web/)
  GV_ERR_WEB_LISTEN: 'the dashboard cannot bind web.listen',
  GV_ERR_WEB_CSRF: 'a dashboard request that changes something came without its session\'s CSRF token, or from another origin',
  GV_ERR_WEB_BUSY: 'the dashboard already serves as many live streams or login attempts as it allows',
  GV_ERR_INTERNAL: 'a bug: an error gracevisor did not expect',
} as const;

/** A stable error code, one key of {@link ErrorCodes}. */
export type ErrorCode = keyof typeof ErrorCodes;

/** Where in a config source something is: 1-based line and column. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/**
 * The one error class gracevisor throws on purpose. `pos` is set for config errors and is printed
 * as `file:line:col` first, the way compilers and `nginx -t` do.
 */
export class GvError extends Error {
  readonly code: ErrorCode;
  readonly pos: SourcePosition | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { pos?: SourcePosition; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GvError';
    this.code = code;
    this.pos = opts.pos;
    this.details = opts.details;
  }

  /**
   * `err` as a GvError: itself when it is one; an error that carries a known GV code (thrown by
   * another copy of gracevisor a plugin imported, or rebuilt from the wire) keeps its code, message,
   * position and details; anything else is GV_ERR_INTERNAL (a bug), with `err` as its cause and
   * its message — or, with `stack`, its stack, for the places that print a bug report.
   */
  static from(err: unknown, opts: { stack?: boolean } = {}): GvError {
    if (err instanceof GvError) return err;
    if (carriesCode(err)) {
      const e = err as { code: ErrorCode; message: string; pos?: SourcePosition; details?: Record<string, unknown> };
      return new GvError(e.code, e.message, { cause: err, ...(e.pos && { pos: e.pos }), ...(e.details && { details: e.details }) });
    }
    const message = err instanceof Error ? (opts.stack ? (err.stack ?? err.message) : err.message) : String(err);
    return new GvError('GV_ERR_INTERNAL', message, { cause: err });
  }

  /** `file:line:col: CODE: message`, or `CODE: message` without a position. */
  format(): string {
    const where = this.pos ? `${this.pos.file}:${this.pos.line}:${this.pos.col}: ` : '';
    return `${where}${this.code}: ${this.message}`;
  }

  /** The shape the control API sends over the wire. */
  toJSON(): { code: ErrorCode; message: string; pos?: SourcePosition; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.pos && { pos: this.pos }), ...(this.details && { details: this.details }) };
  }
}

/**
 * A config that failed to load: every problem found, not only the first, so `--check` can print
 * them all. Its own code, position and details are those of the first problem.
 */
export class GvConfigError extends GvError {
  readonly errors: GvError[];
  constructor(errors: GvError[]) {
    const first = errors[0]!;
    super(first.code, errors.length === 1 ? first.message : `${errors.length} problems in the configuration`, { ...(first.pos && { pos: first.pos }), ...(first.details && { details: first.details }) });
    this.name = 'GvConfigError';
    this.errors = errors;
  }

  override format(): string {
    return this.errors.map((e) => e.format()).join('\n');
  }
}

/**
 * True when `err` is a {@link GvError} of this copy of gracevisor (`instanceof`). An error that only
 * carries a GV code is not one; {@link GvError.from} turns it into one.
 */
export function isGvError(err: unknown): err is GvError {
  return err instanceof GvError;
}

/** An object with a string `message` and a `code` from {@link ErrorCodes}. */
function carriesCode(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, e.code) && typeof e.message === 'string';
}
