/**
 * The splice engine's native addon (native/, built by scripts/build-native.mjs at install time): its
 * interface, and loading it (./native-addon.ts: never throws, a missing addon gives a reason).
 */
import { defaultAddonPath, loadAddon, type AddonLoad } from './native-addon.js';

/** Tunables of one splice loop; every field has a default chosen by bench/splice.mjs. */
export interface SpliceTuning {
  /**
   * Pipe capacity per direction, bytes (F_SETPIPE_SZ). Default 1 MiB. Pipes start at the kernel's
   * 64 KiB and grow to this once a direction fills one, unless growPipes is false.
   */
  pipeSize?: number;
  /** Grow pipes on demand (default) or give every pipe pipeSize up front. */
  growPipes?: boolean;
  /** Most bytes asked of one splice(2) call from a socket, bytes. Default 1 MiB. */
  chunkSize?: number;
  /** epoll edge-triggered, or level-triggered (default: less CPU per GB, see docs/splice.md). */
  edgeTriggered?: boolean;
  /** Pass SPLICE_F_MORE while the reading side still has bytes queued. Default true. */
  spliceMore?: boolean;
}

/** How one spliced connection ended, as the addon reports it on the main thread. */
export interface SpliceEnd {
  id: number;
  /** Bytes delivered client -> upstream. */
  bytesIn: number;
  /** Bytes delivered upstream -> client. */
  bytesOut: number;
  /** `end`: both sides closed cleanly; `error`: a reset or failure; `aborted`: `abort()` or `close()`. */
  reason: 'end' | 'error' | 'aborted';
  /** errno name for `error` (e.g. ECONNRESET). */
  code?: string;
  /** The side that failed, for `error`. */
  side?: 'client' | 'upstream';
}

/** One epoll thread of the addon. */
export interface NativeSplicer {
  /** Dups both fds (the caller then closes its own handles) and starts moving bytes. Returns the id. */
  add(clientFd: number, upstreamFd: number): number;
  /** Resets both sides of one connection; its end is reported with reason `aborted`. */
  abort(id: number): void;
  /** `[id, bytesIn, bytesOut, …]` for every open connection. */
  counters(): Float64Array;
  /** Resets every open connection (each reported `aborted`) and joins the thread. Idempotent. */
  close(): void;
  /** Connections added and not yet reported ended. */
  readonly open: number;
  readonly options: Required<SpliceTuning>;
}

/** The addon module's exports. */
export interface SpliceAddon {
  Splicer: new (onEnd: (end: SpliceEnd) => void, tuning?: SpliceTuning) => NativeSplicer;
  platform: string;
  /**
   * One datagram to an AF_UNIX SOCK_DGRAM socket (`@name`: abstract namespace), the sd_notify(3)
   * protocol; null once sent, else the errno name. Absent from an addon built before it existed.
   */
  notify?: (socketPath: string, message: string) => string | null;
}

/** Either the loaded addon or why it is not there. */
export type SpliceAddonLoad = AddonLoad<SpliceAddon>;

/** Where `npm ci` (scripts/build-native.mjs) puts the addon. */
export const defaultSpliceAddonPath = defaultAddonPath('gracevisor_splice');

/**
 * Loads the addon at `path` (default: the one built at install). The seam tests use to see the
 * unavailable path. A reason is, in order: not Linux, the build's own UNAVAILABLE note next to the
 * addon, the load error.
 */
export function loadSpliceAddon(path: string = defaultSpliceAddonPath): SpliceAddonLoad {
  if (process.platform !== 'linux') return { addon: null, reason: `splice(2) is Linux-only; this is ${process.platform}` };
  return loadAddon<SpliceAddon>(path, { label: 'splice', note: 'UNAVAILABLE', is: (m) => typeof m.Splicer === 'function' });
}
