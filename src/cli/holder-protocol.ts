/**
 * The messages between gracevisord's holder (./holder.ts) and the daemon process it runs, the
 * worker (./daemon.ts, through ./holder-link.ts), over Node's IPC channel. A message that carries a
 * socket carries it as the channel's handle (a raw listening TCP or unix socket: the holder only
 * keeps it, it never accepts on it). docs/architecture.md "Restartable daemon" has the sequences.
 */
import type { InstanceRecord } from '../supervisor/state-file.js';

/** How a worker starts: the first one, after a crash of the last one, or taking over from it. */
export type WorkerMode = 'start' | 'recover' | 'takeover';

/** Unfinished output lines of instances, base64, by instance id. */
export type WirePartials = Record<string, { out: string | null; err: string | null }>;

/** Worker to holder. */
export type ToHolder =
  /** The config loaded: the holder may send `init` (for a takeover, once the old worker is frozen). */
  | { t: 'loaded' }
  /** Keep this listener (the message's handle) under `key`. */
  | { t: 'hold'; key: string }
  /** The listener under `key` is closed for good. */
  | { t: 'drop'; key: string }
  /** The instance records now (state.json): the holder keeps each one's output FIFOs open. */
  | { t: 'instances'; runDir: string; records: InstanceRecord[] }
  /** Serving: the first start is done, or the takeover is (the old worker may retire). */
  | { t: 'ready'; pid: number; version: string }
  /** Asked to upgrade (gracevisorctl upgrade); the answer is `upgrade-result` with the same id. */
  | { t: 'upgrade'; id: number }
  /** The reply to `freeze`: nothing changes here any more; the output it had not finished. */
  | { t: 'frozen'; partials: WirePartials }
  /** About to exit, and why: a `shutdown` or a failed first start end the holder too. */
  | { t: 'exiting'; code: number; reason: 'shutdown' | 'startup-failed' | 'handover'; error?: string };

/** Holder to worker. */
export type ToWorker =
  /** How to start; listeners follow as `listener` messages, then `init-done`. */
  | { t: 'init'; mode: WorkerMode; partials: WirePartials; previous: { pid: number; code: number | null; signal: string | null } | null }
  /** A listener the previous worker had (the message's handle), under `key`. */
  | { t: 'listener'; key: string }
  | { t: 'init-done' }
  /** A successor has loaded its config: stop changing anything, stop reading output, reply `frozen`. */
  | { t: 'freeze' }
  /** The successor died before it took over: carry on as before the freeze. */
  | { t: 'thaw' }
  /** The successor serves: stop accepting, finish open work, exit. */
  | { t: 'retire' }
  | { t: 'upgrade-result'; id: number; ok: true; from: { pid: number; version: string }; to: { pid: number; version: string }; durationMs: number }
  | { t: 'upgrade-result'; id: number; ok: false; code: string; message: string };
