/**
 * What the supervisor needs from whoever keeps things alive across daemons (docs/architecture.md
 * "Restartable daemon"): gracevisord's holder process (src/cli/holder.ts) in production, nothing in
 * an embedded supervisor. The supervisor knows no process or IPC; it talks to this interface:
 *
 * - listeners: every listening socket it binds (each app's, the control API's, the metrics one) is
 *   handed to the keeper by key, and a socket the keeper still holds from the previous daemon is
 *   taken back by the same key instead of binding afresh: no connection is refused in between;
 * - instances: every change of the instance records (state.json) is told to the keeper, which keeps
 *   a read end of each instance's output FIFOs open (./output-pipes.ts) and knows what to stop if it
 *   ever gives up.
 */
import type { InstanceRecord } from './state-file.js';

/** The keeper of listeners and instance pipes across daemons. */
export interface Keeper {
  /** The handle the previous daemon listened on for `key`, once (then null). */
  take(key: string): object | null;
  /** A listener for `key` is up: keep its handle. */
  hold(key: string, handle: object): void;
  /** The listener for `key` is closed for good (its app was removed): stop keeping it. */
  drop(key: string): void;
  /** The instance records are now `records` (under `runDir`). */
  instances(records: readonly InstanceRecord[], runDir: string): void;
  /** Output a previous daemon had read but not yet written as a whole line, by instance and stream. */
  partial(instance: string, stream: 'out' | 'err'): Buffer | null;
}

/** The key of a TCP listener. */
export function tcpKey(host: string, port: number): string {
  return `tcp:${host}:${port}`;
}

/** The key of a unix socket listener. */
export function unixKey(path: string): string {
  return `unix:${path}`;
}

/** A keeper that keeps nothing (an embedded supervisor, a daemon run without its holder). */
export const NO_KEEPER: Keeper = {
  take: () => null,
  hold: () => {},
  drop: () => {},
  instances: () => {},
  partial: () => null,
};
