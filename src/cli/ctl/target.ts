/**
 * Where gracevisorctl finds the daemon, from its options, in this order:
 *   --host/--port   TCP, with --token (or $GRACEVISOR_TOKEN), else the token --conf names, else
 *                   <run_dir>/control.token (run_dir from --conf, or the default)
 *   --socket PATH   that unix socket
 *   --conf PATH     the rpc settings of that config (its socket; its TCP address when it has no socket)
 *   nothing         the default socket — the same default the config layer gives rpc.socket
 */
import { UsageError } from 'clipanion';
import type { ControlTarget } from '../../control/client.js';
import { readTokenFile, tokenFilePath } from '../../control/token.js';
import { DEFAULT_READ_BOUNDS, findConfigFile, loadConfig } from '../../config/load.js';
import { readLastDaemon } from '../../control/last-daemon.js';
import { GvConfigError } from '../../errors.js';
import { DEFAULT_RUN_DIR, DEFAULT_SOCKET } from '../../config/defaults.js';
import type { Config } from '../../config/model.js';

/** The socket gracevisorctl tries when given no --socket, --host or --conf: rpc.socket's default, from the config layer. */
export function defaultSocketPath(): string {
  return DEFAULT_SOCKET;
}

/** The connection options every command takes. */
export interface TargetOptions {
  socket?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  token?: string | undefined;
  conf?: string | undefined;
}

/**
 * Load a config for its rpc and run_dir only: phase 1 of the daemon's own loader (bounded like the
 * daemon's), so the two never disagree on where the daemon listens. Plugins are neither loaded nor
 * checked here (that is `gracevisord --check`'s job, not a client's).
 */
async function rpcOf(conf: string): Promise<Config> {
  return loadConfig(conf, { bounds: DEFAULT_READ_BOUNDS });
}

async function tokenFor(opts: TargetOptions, config: Config | null): Promise<string | null> {
  if (opts.token !== undefined && opts.token !== '') return opts.token;
  if (config?.rpc.token) return config.rpc.token;
  if (config?.rpc.token_file) return readTokenFile(config.rpc.token_file);
  try {
    return await readTokenFile(tokenFilePath(config?.run_dir ?? DEFAULT_RUN_DIR));
  } catch {
    // No readable token: send none, and let the daemon answer 401 with its own error code.
    return null;
  }
}

/** Decide where to connect. Throws a UsageError for contradictory options, a GvError for a config that does not load. */
export async function resolveTarget(opts: TargetOptions): Promise<ControlTarget> {
  if ((opts.host === undefined) !== (opts.port === undefined)) throw new UsageError('--host and --port go together');
  if (opts.host !== undefined && opts.socket !== undefined) throw new UsageError('give either --socket or --host/--port, not both');
  const config = opts.conf !== undefined && (opts.socket === undefined || opts.host !== undefined) ? await rpcOf(opts.conf) : null;
  if (opts.host !== undefined && opts.port !== undefined) return { host: opts.host, port: opts.port, token: await tokenFor(opts, config) };
  if (opts.socket !== undefined) return { socket: opts.socket };
  if (config) return { socket: config.rpc.socket };
  return { socket: defaultSocketPath() };
}

/** A target, and what gracevisorctl should say on stderr about how it was found (or null). */
export interface FoundTarget {
  target: ControlTarget;
  note: string | null;
}

/**
 * {@link resolveTarget}, but for a read-only command whose `--conf` does not load: the daemon the
 * started with that config (its record, src/control/last-daemon.ts), else the default socket, with a note
 * that says so. A mutating command gets the config error: nothing was sent, so nothing changed.
 */
export async function findTarget(opts: TargetOptions, readOnly: boolean): Promise<FoundTarget> {
  try {
    return { target: await resolveTarget(opts), note: null };
  } catch (err) {
    if (!readOnly || !(err instanceof GvConfigError) || opts.conf === undefined) throw err;
    const file = await findConfigFile(opts.conf).catch(() => null);
    const last = file !== null ? await readLastDaemon(file) : null;
    const socket = last?.socket ?? defaultSocketPath();
    const how = last ? `the daemon started with it (pid ${last.pid})` : 'the default socket';
    return {
      target: { socket },
      note: `gracevisorctl: the config ${opts.conf} does not load (${err.errors.length} problem${err.errors.length === 1 ? '' : 's'}: ${err.errors[0]!.format().split('\n')[0]}); asking ${how} at ${socket}`,
    };
  }
}
