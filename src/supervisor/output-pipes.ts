/**
 * Where an instance's stdout and stderr go before AppLogs reads them. Two ways:
 *
 * - `pipe` (embedded supervisors, tests, a daemon run with --no-holder): anonymous pipes, as
 *   child_process makes them. When the daemon dies their read ends die with it, so the app gets
 *   EPIPE (or SIGPIPE) at its next write.
 * - `fifo` (gracevisord with its holder, the default): a named pipe per stream in
 *   `<run_dir>/pipes/`, `<instance>.out` and `<instance>.err`. The holder keeps a read end of each
 *   open (never reading), so a daemon that crashes or hands over to its successor leaves the app's
 *   writes buffered in the pipe (and, once it is full, waiting) until the next daemon opens the
 *   same path and reads on where the last one stopped: no line lost, none cut.
 *
 * Both hand AppLogs the same thing: two readable streams.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GvError } from '../errors.js';

/** How instances' output reaches the daemon. */
export type OutputMode = { kind: 'pipe' } | { kind: 'fifo'; dir: string };

/** The stdio entries for spawn(), and what to do around it. */
export interface OutputPlan {
  stdio: ['ignore', 'pipe' | number, 'pipe' | number];
  /** The readable ends, once spawned (`child` is the spawned process's stdout/stderr for `pipe`). */
  streams(child: { stdout: Readable | null; stderr: Readable | null }): { stdout: Readable | null; stderr: Readable | null };
  /** Close what this process holds of the write ends (after spawn, or when spawn failed). */
  afterSpawn(): void;
}

/** The FIFO paths of instance `id` under `dir`. */
export function fifoPaths(dir: string, id: string): { out: string; err: string } {
  const safe = id.replace(/[^A-Za-z0-9_.#-]/g, '_');
  return { out: join(dir, `${safe}.out`), err: join(dir, `${safe}.err`) };
}

/** A read end of the FIFO at `path`, as a stream (non-blocking: it never waits for a writer). */
export function openFifoReader(path: string): Readable {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  return new net.Socket({ fd, readable: true, writable: false });
}

/** Make the FIFO at `path` (mode 0600); an existing one is made again (a previous run's). */
function mkfifo(path: string): void {
  rmSync(path, { force: true });
  // Node has no mkfifo(3); coreutils' mkfifo is on every Linux.
  const r = spawnSync('mkfifo', ['-m', '600', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new GvError('GV_ERR_SPAWN', `cannot make the output pipe ${path}: ${(r.stderr || r.error?.message || 'mkfifo failed').trim()}`, { details: { path } });
}

/** The plan for instance `id` under `mode`. Throws GV_ERR_SPAWN when its FIFOs cannot be made. */
export function planOutput(mode: OutputMode, id: string): OutputPlan {
  if (mode.kind === 'pipe') {
    return { stdio: ['ignore', 'pipe', 'pipe'], streams: (c) => ({ stdout: c.stdout, stderr: c.stderr }), afterSpawn: () => {} };
  }
  mkdirSync(mode.dir, { recursive: true, mode: 0o700 });
  const paths = fifoPaths(mode.dir, id);
  mkfifo(paths.out);
  mkfifo(paths.err);
  // Readers first: opening a FIFO for writing blocks until it has a reader; with ours open it returns
  // at once, and the app's end is a plain blocking one (as a terminal or a pipe would be).
  const stdout = openFifoReader(paths.out);
  const stderr = openFifoReader(paths.err);
  const w1 = openSync(paths.out, constants.O_WRONLY);
  const w2 = openSync(paths.err, constants.O_WRONLY);
  let closed = false;
  return {
    stdio: ['ignore', w1, w2],
    streams: () => ({ stdout, stderr }),
    afterSpawn: () => {
      if (closed) return;
      closed = true;
      closeSync(w1);
      closeSync(w2);
    },
  };
}

/** Remove instance `id`'s FIFOs (it is gone). */
export function removeFifos(mode: OutputMode, id: string): void {
  if (mode.kind !== 'fifo') return;
  const p = fifoPaths(mode.dir, id);
  rmSync(p.out, { force: true });
  rmSync(p.err, { force: true });
}

/** The read ends of a running instance's FIFOs (adopting it), or null when they are not there. */
export function reopenOutput(mode: OutputMode, id: string): { stdout: Readable; stderr: Readable } | null {
  if (mode.kind !== 'fifo') return null;
  const p = fifoPaths(mode.dir, id);
  if (!existsSync(p.out) || !existsSync(p.err)) return null;
  try {
    return { stdout: openFifoReader(p.out), stderr: openFifoReader(p.err) };
  } catch {
    return null;
  }
}
