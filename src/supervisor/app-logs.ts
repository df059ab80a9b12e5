/**
 * Where app output goes. Each log file has one rotating stream, shared by every instance of the app
 * and by stdout and stderr when both name the same file (and by two apps that name one file). A
 * child's output is cut into whole lines before it is written, and one write carries only whole
 * lines, so lines of different instances or apps never interleave mid-line. Nothing is prefixed: the
 * file holds exactly what the app printed, line by line.
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
    await new Promise<void>((resolve) => {
      f.stream.once('finish', () => resolve());
      f.stream.once('error', () => resolve());
      f.stream.end();
    });
  }

  /** Paths open now. */
  open(): string[] {
    return [...this.#files.keys()];
  }
}

/** One app's log sinks: the stdout and stderr files of its config. */
export class AppLogs {
  readonly stdoutFile: string;
  readonly stderrFile: string;
  readonly #pool: LogFilePool;
  readonly #out: RotatingFileStream;
  readonly #err: RotatingFileStream;
  #closed = false;

  constructor(pool: LogFilePool, logger: AppLoggerConfig) {
    this.#pool = pool;
    this.stdoutFile = logger.stdout_log_file;
    this.stderrFile = logger.stderr_log_file;
    this.#out = pool.acquire(this.stdoutFile, logger);
    this.#err = pool.acquire(this.stderrFile, logger);
  }

  /** Copy a child's stdout and stderr to the files, whole lines at a time. */
  attach(stdout: Readable | null, stderr: Readable | null): void {
    if (stdout) pipeLines(stdout, (chunk) => this.#write(this.#out, chunk));
    if (stderr) pipeLines(stderr, (chunk) => this.#write(this.#err, chunk));
  }

  /** Release the files (the streams close when no other app uses them). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#pool.release(this.stdoutFile), this.#pool.release(this.stderrFile)]);
  }

  #write(stream: RotatingFileStream, chunk: Buffer): void {
    // Output that arrives after close (a child still flushing) has nowhere to go.
    if (this.#closed || stream.writableEnded) return;
    stream.write(chunk);
  }
}

/** Read `src` and hand `write` only whole lines (one call per chunk of complete lines). */
export function pipeLines(src: Readable, write: (chunk: Buffer) => void): void {
  let partial: Buffer | null = null;
  src.on('data', (data: Buffer) => {
    const buf: Buffer = partial ? Buffer.concat([partial, data]) : data;
    const nl = buf.lastIndexOf(0x0a);
    if (nl === -1) {
      partial = buf;
      if (partial.length > MAX_PARTIAL) {
        write(Buffer.concat([partial, Buffer.from('\n')]));
        partial = null;
      }
      return;
    }
    write(buf.subarray(0, nl + 1));
    partial = nl + 1 < buf.length ? Buffer.from(buf.subarray(nl + 1)) : null;
  });
  src.on('end', () => {
    if (partial && partial.length > 0) write(Buffer.concat([partial, Buffer.from('\n')]));
    partial = null;
  });
  src.on('error', () => {});
}
