/**
 * File descriptors: the daemon's limit, raised at start from the soft limit to the hard one (as
 * nginx's worker_rlimit_nofile and systemd's LimitNOFILE do), and the daemon-wide budget of client
 * connections derived from it, which keeps descriptors in reserve for what must always work: the
 * control API, the log files, the state file, and each instance's pipes.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ConnectionBudget } from '../plugins/engine.js';

const run = promisify(execFile);

/** Descriptors never given to client connections. */
export const FD_RESERVE = 256;
/** Descriptors kept per configured instance (its stdout/stderr pipes, a spare for a restart's new one). */
export const FD_PER_INSTANCE = 8;
/** Descriptors one proxied client connection takes: the client's and the upstream's. */
export const FD_PER_CONNECTION = 2;

/** The soft and hard RLIMIT_NOFILE of this process, from /proc (null where /proc cannot tell). */
export function readNofile(): { soft: number; hard: number } | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const m = line ? /^Max open files\s+(\S+)\s+(\S+)/.exec(line) : null;
    if (!m) return null;
    const num = (s: string): number => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
    return { soft: num(m[1]!), hard: num(m[2]!) };
  } catch {
    return null;
  }
}

/**
 * Raise the soft limit to the hard one with util-linux `prlimit` (Node has no setrlimit). Resolves
 * with the limits before and after; never rejects (without prlimit the limit stays, and says so).
 */
export async function raiseNofile(): Promise<{ before: { soft: number; hard: number } | null; after: { soft: number; hard: number } | null; error: string | null }> {
  const before = readNofile();
  if (!before || before.soft >= before.hard) return { before, after: before, error: null };
  try {
    await run('prlimit', ['--pid', String(process.pid), `--nofile=${before.hard}:${before.hard}`], { timeout: 5_000 });
  } catch (err) {
    return { before, after: readNofile(), error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
  return { before, after: readNofile(), error: null };
}

/** How many client connections the daemon may hold at once, from its descriptor limit. */
export function connectionsFor(nofile: number, instances: number): number {
  return Math.max(64, Math.floor((nofile - FD_RESERVE - FD_PER_INSTANCE * instances) / FD_PER_CONNECTION));
}

/** The daemon-wide connection budget every engine shares. */
export class Budget implements ConnectionBudget {
  #max: number;
  #used = 0;

  constructor(max: number) {
    this.#max = max;
  }

  /** The cap now. */
  get max(): number {
    return this.#max;
  }

  /** Places taken now. */
  get used(): number {
    return this.#used;
  }

  /** A new cap (a reload changed max_connections); connections over it are not cut, only new ones refused. */
  resize(max: number): void {
    this.#max = max;
  }

  take(): boolean {
    if (this.#used >= this.#max) return false;
    this.#used++;
    return true;
  }

  release(): void {
    if (this.#used > 0) this.#used--;
  }
}
