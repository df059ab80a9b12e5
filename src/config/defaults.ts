/**
 * Default values of the configuration: the original README's, plus the new keys'. Durations are
 * in ms, sizes in bytes. The resolver (./resolve.ts) applies them; gracevisorctl reads the default
 * socket from here so that both agree on where the daemon listens without a config.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Defaults from the original README, plus the new keys'. Durations in ms, sizes in bytes. */
export const DEFAULTS = Object.freeze({
  port_range: Object.freeze({ from: 10000, to: 11000 }),
  rpc_host: 'localhost',
  rpc_port: 9001,
  log_dir: '/var/log/gracevisor',
  max_log_size: 500 * 1024 * 1024,
  internal_host: 'localhost',
  external_host: 'localhost',
  external_port: 8080,
  proxy: 'http',
  stop_signal: 'TERM',
  max_retries: 5,
  drain_timeout: 30_000,
  instances: 1,
  queue_timeout: 10_000,
  upstream_timeout: 60_000,
  // Below the idle timeouts of common app servers (gunicorn 2 s, Node 5 s), so an idle connection
  // is closed by us first and never reused just as the app closes it.
  upstream_idle_timeout: 1_000,
  keepalive_timeout: 65_000,
  header_timeout: 10_000,
  max_header_size: 16 * 1024,
  healthcheck_interval: 5_000,
  healthcheck_timeout: 2_000,
  healthcheck_unhealthy_threshold: 3,
});

/** Facts about the machine that pick defaults (run_dir); injectable so tests do not depend on the user. */
export interface RuntimeInfo {
  uid: number | null;
  env: Record<string, string | undefined>;
  tmpdir: string;
}

/** The machine's facts, read from the process. */
export function currentRuntime(): RuntimeInfo {
  return { uid: typeof process.getuid === 'function' ? process.getuid() : null, env: process.env, tmpdir: tmpdir() };
}

/** The default run_dir: /run/gracevisor as root, else $XDG_RUNTIME_DIR/gracevisor, else <tmp>/gracevisor-<uid>. */
export function defaultRunDir(rt: RuntimeInfo): string {
  if (rt.uid === 0) return '/run/gracevisor';
  if (rt.env.XDG_RUNTIME_DIR) return join(rt.env.XDG_RUNTIME_DIR, 'gracevisor');
  return join(rt.tmpdir, `gracevisor-${rt.uid ?? 'user'}`);
}

/** The run_dir of a config that names none, for the current user. */
export const DEFAULT_RUN_DIR: string = defaultRunDir(currentRuntime());

/** The control socket of a config that names no rpc.socket nor run_dir, for the current user. */
export const DEFAULT_SOCKET: string = join(DEFAULT_RUN_DIR, 'gracevisord.sock');
