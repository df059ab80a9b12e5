/**
 * Where app output goes. Each log file has one rotating stream, shared by every instance of the app
 * and by stdout and stderr when both name the same file (and by two apps that name one file). A
 * child's output is cut into whole lines before it is written, and one write carries only whole
 * lines, so lines of different instances or apps never interleave mid-line.
 *
 * With `log_format: prefixed` (the default) each line starts with when it was read, the instance it
 * came from and its stream — `2026-12-01T22:18:42.123Z web#3 out hello` — so two instances and a
 * restart can be told apart and `gracevisorctl logs` can merge stdout and stderr in time order. With
 * `log_format: raw` the file holds exactly what the app printed.
 *
 * Memory is bounded: when a file's stream has more than its buffer waiting (the disk is slower than
 * the app), the app's pipe is no longer read until the stream drains, so the app's own writes block
 * as they would on a slow terminal. Per pipe at most one read (64 KiB) and one partial line
 * ({@link MAX_PARTIAL}) are held, and per file the stream's own buffer (16 KiB past which it asks
 * its writers to wait) and the chunk that crossed it.
 */
import type { Readable } from 'node:stream';
import type { RotatingFileStream } from 'rotating-file-stream';
import type { AppLoggerConfig } from '../config/model.js';
import { openRotating, type RotationSettings } from './rotation.js';

/** A partial line longer than this is written out anyway, ended with a newline. */
const MAX_PARTIAL = 64 * 1024;

interface SharedFile {
  stream: RotatingFileStream;
  refs: number;
}

/** The open app log files of one supervisor, by path. */
export class LogFilePool {
  readonly #files = new Map<string, SharedFile>();
  readonly #onError: (file: string, err: Error) => void;

  constructor(onError: (file: string, err: Error) => void = () => {}) {
    this.#onError = onError;
  }

  /** The shared stream of `file` (opened on first use); pair every call with {@link release}. */
  acquire(file: string, rot: RotationSettings): RotatingFileStream {
    let f = this.#files.get(file);
    if (!f) {
      const stream = openRotating(file, rot);
      stream.on('error', (err: Error) => this.#onError(file, err));
      f = { stream, refs: 0 };
      this.#files.set(file, f);
    }
    f.refs++;
    return f.stream;
  }

  /** Drop one use of `file`; the last one closes the stream once its writes are flushed. */
  async release(file: string): Promise<void> {
    const f = this.#files.get(file);
    if (!f) return;
    if (--f.refs > 0) return;
    this.#files.delete(file);
    const stream = f.stream;
    // A stream that failed (its folder went away, the disk is full) is already gone: nothing to wait for.
    if (stream.destroyed || stream.writableFinished) return;
    await new Promise<void>((resolve) => {
      stream.once('finish', () => resolve());
      stream.once('error', () => resolve());
      stream.once('close', () => resolve());
      stream.end();
    });
  }

  /** Paths open now. */
  open(): string[] {
    return [...this.#files.keys()];
  }
}

/** Lines of an instance's stderr kept for an alert about it. */
const TAIL_LINES = 20;
/** Characters of one kept line. */
const TAIL_LINE_CHARS = 500;
/** Instances whose last stderr lines are kept (the newest ones). */
const TAIL_INSTANCES = 32;

/** One app's log sinks: the stdout and stderr files of its config. */
export class AppLogs {
  readonly stdoutFile: string;
  readonly stderrFile: string;
  readonly #pool: LogFilePool;
  readonly #out: RotatingFileStream;
  readonly #err: RotatingFileStream;
  readonly #prefixed: boolean;
  /** The last stderr lines of recent instances, for an alert about a start that failed. */
  readonly #tails = new Map<string, string[]>();
  /** The pipes being read, by instance, to hand over to a successor daemon ({@link detachAll}). */
  readonly #pipes = new Map<string, { out: LinePipe | null; err: LinePipe | null }>();
  #closed = false;

  constructor(pool: LogFilePool, logger: AppLoggerConfig) {
    this.#pool = pool;
    this.#prefixed = logger.log_format === 'prefixed';
    this.stdoutFile = logger.stdout_log_file;
    this.stderrFile = logger.stderr_log_file;
    this.#out = pool.acquire(this.stdoutFile, logger);
    this.#err = pool.acquire(this.stderrFile, logger);
  }

  /**
   * Copy a child's stdout and stderr to the files, whole lines at a time, pausing a pipe while its
   * file is behind. `instance` is the id its lines are marked with (`web#3`).
   */
  attach(instance: string, stdout: Readable | null, stderr: Readable | null, seed: { out?: Buffer | null; err?: Buffer | null } = {}): void {
    const sink = (stream: RotatingFileStream, tag: string) => (chunk: Buffer): boolean => this.#write(stream, this.#prefixed ? prefixLines(chunk, `${instance} ${tag} `) : chunk);
    const pipes: { out: LinePipe | null; err: LinePipe | null } = { out: null, err: null };
    if (stdout) pipes.out = pipeLines(stdout, sink(this.#out, 'out'), (resume) => this.#whenDrained(this.#out, resume), seed.out ?? null);
    if (stderr) {
      const toFile = sink(this.#err, 'err');
      const tail: string[] = [];
      this.#tails.set(instance, tail);
      if (this.#tails.size > TAIL_INSTANCES) this.#tails.delete(this.#tails.keys().next().value!);
      pipes.err = pipeLines(stderr, (chunk) => {
        keepTail(tail, chunk);
        return toFile(chunk);
      }, (resume) => this.#whenDrained(this.#err, resume), seed.err ?? null);
    }
    this.#pipes.set(instance, pipes);
    stdout?.once('close', () => {
      if (this.#pipes.get(instance) === pipes) this.#pipes.delete(instance);
    });
  }

  /**
   * Stop reading every instance's output here (a successor daemon reads it from now on): what was
   * already read is written, and each pipe's unfinished last line is returned, by instance, for the
   * successor to start with — so no line is lost or cut across the handover.
   */
  detachAll(): Map<string, { out: Buffer | null; err: Buffer | null }> {
    const out = new Map<string, { out: Buffer | null; err: Buffer | null }>();
    for (const [instance, p] of this.#pipes) out.set(instance, { out: p.out?.detach() ?? null, err: p.err?.detach() ?? null });
    this.#pipes.clear();
    return out;
  }

  /** The last lines `instance` wrote to stderr (at most 20), newest last; [] for one not seen. */
  stderrTail(instance: string): string[] {
    return [...(this.#tails.get(instance) ?? [])];
  }

  /** Release the files (the streams close when no other app uses them). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#pool.release(this.stdoutFile), this.#pool.release(this.stderrFile)]);
  }

  /** False when the stream's buffer is full: the caller stops reading until {@link #whenDrained}. */
  #write(stream: RotatingFileStream, chunk: Buffer): boolean {
    // Output that arrives after close (a child still flushing) has nowhere to go.
    if (this.#closed || stream.writableEnded) return true;
    return stream.write(chunk);
  }

  #whenDrained(stream: RotatingFileStream, resume: () => void): void {
    if (this.#closed || stream.writableEnded || !stream.writableNeedDrain) {
      resume();
      return;
    }
    // 'close' too: a stream that fails or ends must not leave the app's pipe paused for ever.
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resume();
    };
    stream.on('drain', done);
    stream.on('close', done);
  }
}

/** Keep the last {@link TAIL_LINES} lines of `chunk` (whole lines) in `tail`. */
function keepTail(tail: string[], chunk: Buffer): void {
  // Only the end of a large chunk can hold the last lines.
  const text = chunk.subarray(Math.max(0, chunk.length - TAIL_LINES * (TAIL_LINE_CHARS + 1))).toString('utf8');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    tail.push(line.length > TAIL_LINE_CHARS ? `${line.slice(0, TAIL_LINE_CHARS)}…` : line);
  }
  if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
}

/** Each line of `chunk` (whole lines) with `<ISO time> <tag>` before it. */
export function prefixLines(chunk: Buffer, tag: string): Buffer {
  const head = Buffer.from(`${new Date().toISOString()} ${tag}`);
  const parts: Buffer[] = [];
  let start = 0;
  while (start < chunk.length) {
    const nl = chunk.indexOf(0x0a, start);
    const end = nl === -1 ? chunk.length : nl + 1;
    parts.push(head, chunk.subarray(start, end));
    start = end;
  }
  return Buffer.concat(parts);
}

/** A pipe being read by {@link pipeLines}. */
export interface LinePipe {
  /** Stop reading (what is buffered is written first) and close it; returns the unfinished last line. */
  detach(): Buffer | null;
}

/**
 * Read `src` and hand `write` only whole lines (one call per chunk of complete lines). When `write`
 * returns false, `src` is paused until `waitDrain` calls back: backpressure from the file to the app.
 * `initial` is an unfinished line a previous reader left (a daemon handing over).
 */
export function pipeLines(src: Readable, write: (chunk: Buffer) => boolean | void, waitDrain?: (resume: () => void) => void, initial: Buffer | null = null): LinePipe {
  let partial: Buffer | null = initial && initial.length > 0 ? initial : null;
  const push = (chunk: Buffer): void => {
    if (write(chunk) === false && waitDrain) {
      src.pause();
      waitDrain(() => src.resume());
    }
  };
  const onData = (data: Buffer): void => {
    const buf: Buffer = partial ? Buffer.concat([partial, data]) : data;
    const nl = buf.lastIndexOf(0x0a);
    if (nl === -1) {
      partial = buf;
      if (partial.length > MAX_PARTIAL) {
        push(Buffer.concat([partial, Buffer.from('\n')]));
        partial = null;
      }
      return;
    }
    push(buf.subarray(0, nl + 1));
    partial = nl + 1 < buf.length ? Buffer.from(buf.subarray(nl + 1)) : null;
  };
  const onEnd = (): void => {
    if (partial && partial.length > 0) write(Buffer.concat([partial, Buffer.from('\n')]));
    partial = null;
  };
  src.on('data', onData);
  src.on('end', onEnd);
  src.on('error', () => {});
  return {
    detach(): Buffer | null {
      src.off('data', onData);
      src.off('end', onEnd);
      src.pause();
      // What the stream had read from the pipe already is this reader's to write.
      for (let chunk = src.read() as Buffer | null; chunk !== null; chunk = src.read() as Buffer | null) onData(chunk);
      src.destroy();
      const rest = partial;
      partial = null;
      return rest;
    },
  };
}
