/**
 * `tail -n N` and `tail -F` over an app's log file, for `GET /v1/apps/:app/logs`. Following polls
 * the path (not the open descriptor), so a rotated file — renamed away and replaced, or truncated —
 * is noticed and re-opened from its start: a new inode or a size smaller than what was read.
 * Polling rather than fs.watch because inotify watches the old inode across a rename.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where a reader stopped: the byte offset reached and the inode it was reading. */
export interface TailPosition {
  position: number;
  ino: number | null;
}

const CHUNK = 64 * 1024;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * The last `n` lines of `file` (a missing file has none), and the position after them so that a
 * follower continues exactly there. A last line without its newline counts as a line.
 */
export async function readLastLines(file: string, n: number): Promise<{ text: Buffer } & TailPosition> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if (isMissing(err)) return { text: Buffer.alloc(0), position: 0, ino: null };
    throw err;
  }
  try {
    const st = await fh.stat();
    const size = st.size;
    if (n <= 0 || size === 0) return { text: Buffer.alloc(0), position: size, ino: st.ino };
    const chunks: Buffer[] = [];
    let newlines = 0;
    let pos = size;
    let start = 0;
    // A trailing newline ends the last line; it does not start an empty one.
    let skipTrailing = true;
    outer: while (pos > 0) {
      const len = Math.min(CHUNK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      chunks.unshift(buf);
      for (let i = len - 1; i >= 0; i--) {
        if (buf[i] !== 0x0a) { skipTrailing = false; continue; }
        if (skipTrailing) { skipTrailing = false; continue; }
        newlines++;
        if (newlines === n) { start = pos + i + 1; break outer; }
      }
    }
    const all = Buffer.concat(chunks);
    return { text: all.subarray(start - pos), position: size, ino: st.ino };
  } finally {
    await fh.close();
  }
}

/**
 * Follow `file` from `from` until `signal` aborts, handing every new chunk to `write` (awaited, so a
 * slow reader slows the follower instead of growing a buffer). A file that does not exist yet is
 * waited for. Resolves when aborted; never rejects for rotation or a vanished file.
 */
export async function followFile(
  file: string,
  from: TailPosition,
  write: (chunk: Buffer) => Promise<void>,
  signal: AbortSignal,
  intervalMs = 200,
): Promise<void> {
  let fh: FileHandle | null = null;
  let { position, ino } = from;
  const readRest = async (): Promise<void> => {
    if (!fh) return;
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      if (signal.aborted) return;
      const { bytesRead } = await fh.read(buf, 0, CHUNK, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      await write(Buffer.from(buf.subarray(0, bytesRead)));
    }
  };
  try {
    while (!signal.aborted) {
      let st: Awaited<ReturnType<typeof stat>> | null = null;
      try {
        st = await stat(file);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      if (st) {
        const rotated = ino !== null && st.ino !== ino;
        const truncated = !rotated && st.size < position;
        if (rotated || truncated) {
          // What was written to the old file after our last read still belongs to the output.
          if (rotated) await readRest();
          await fh?.close();
          fh = null;
          position = 0;
        }
        if (!fh) {
          try {
            fh = await open(file, 'r');
            ino = (await fh.stat()).ino;
          } catch (err) {
            if (!isMissing(err)) throw err;
          }
        }
        await readRest();
      }
      try {
        await sleep(intervalMs, undefined, { signal });
      } catch {
        return;
      }
    }
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** One log file to tail, and the label its lines get (`web | `), if any. */
export interface LogSource {
  file: string;
  label: string | null;
}

/**
 * The last `n` lines of `sources`, merged by {@link mergeLines}, handed to `write` once (`first`:
 * true, possibly empty); then, with `follow`, every whole line appended to any of them (with its
 * source's label, so lines of several files never interleave mid-line), through rotation, until
 * `follow.signal` aborts. `write` is awaited: a slow reader slows the followers instead of growing a
 * buffer. The control API's logs routes and the dashboard's log tail both read logs through this.
 */
export async function tailLogs(
  sources: readonly LogSource[],
  n: number,
  write: (text: string, first: boolean) => Promise<void>,
  follow?: { signal: AbortSignal; intervalMs: number },
): Promise<void> {
  const tails = await Promise.all(sources.map((src) => readLastLines(src.file, n)));
  await write(mergeLines(tails.map((tail, i) => ({ text: tail.text, label: sources[i]!.label })), n), true);
  if (!follow) return;
  await Promise.all(sources.map((src, i) => {
    let partial = '';
    const onChunk = async (chunk: Buffer): Promise<void> => {
      const all = partial + chunk.toString('utf8');
      const nl = all.lastIndexOf('\n');
      partial = nl < 0 ? all : all.slice(nl + 1);
      if (nl < 0) return;
      const lines = all.slice(0, nl + 1);
      await write(src.label === null ? lines : lines.replace(/^(?=.)/gm, src.label), false);
    };
    return followFile(src.file, tails[i]!, onChunk, follow.signal, follow.intervalMs);
  }));
}

/** An ISO time at the start of a line (app logs with `log_format: prefixed`, the daemon log). */
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z /;

/**
 * The last `n` lines of several tails, merged: lines that start with an ISO time in time order (a
 * stable merge: equal times keep their file's order), the others after, in their file's order. Each
 * line gets its source's label first, when it has one.
 */
export function mergeLines(tails: { text: Buffer; label: string | null }[], n: number): string {
  if (tails.length === 1 && tails[0]!.label === null) return tails[0]!.text.toString('utf8');
  const lines: { key: string; line: string; i: number }[] = [];
  let i = 0;
  for (const t of tails) {
    for (const line of t.text.toString('utf8').split('\n')) {
      if (line === '') continue;
      const key = STAMP.exec(line)?.[0] ?? '~';
      lines.push({ key, line: t.label === null ? line : t.label + line, i: i++ });
    }
  }
  lines.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i));
  return lines.slice(Math.max(0, lines.length - n)).map((l) => l.line + '\n').join('');
}
