/**
 * The daemon's own log: one line per event, `<ISO time> <LEVEL> <message> key=value…`, to stderr
 * and, once a file is attached, to `config.logger.log_file` (default `<log_dir>/gracevisor.log`),
 * rotated like app logs. gracevisord creates it before the config is read and the Supervisor attaches
 * the file when the config is loaded.
 *
 * The log can neither stop nor swell the daemon: a file that fails is dropped (stderr keeps the
 * lines), a stderr that fails (its reader went away: EPIPE) is dropped too, and a warning or error
 * repeated more than {@link REPEAT_BURST} times within {@link REPEAT_WINDOW_MS} for the same app (a
 * refused request per request, an upstream failure per request) is written once more as a count at
 * the window's end. Info lines are never folded: each is an event of its own.
 */
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { RotatingFileStream } from 'rotating-file-stream';
import type { LoggerConfig } from '../config/model.js';
import { openRotating } from './rotation.js';

/** Log levels, least severe first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Lines of one message written as they come within a window, before the rest are counted. */
export const REPEAT_BURST = 5;
/** The window of repeat suppression, ms. */
export const REPEAT_WINDOW_MS = 10_000;

/** Options of a {@link DaemonLog}. */
export interface DaemonLogOptions {
  /** Also write to stderr (default true). */
  stderr?: boolean;
  /** Lowest level written (default `info`). */
  level?: LogLevel;
  /** Attach this logger config's file right away. */
  logger?: LoggerConfig;
  /** The stream standing for stderr (tests); default process.stderr. */
  stderrStream?: Writable;
}

/** One line as handed to listeners (tests, the control plane's log tail). */
export interface LogRecord {
  time: string;
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown>;
}

/** One message's count in the current window. */
interface Repeat {
  level: LogLevel;
  count: number;
  suppressed: number;
  fields: Record<string, unknown>;
  msg: string;
}

/** The daemon's log. */
export class DaemonLog {
  #stderr: Writable | null;
  readonly #level: number;
  #file: RotatingFileStream | null = null;
  #path: string | null = null;
  readonly #listeners = new Set<(r: LogRecord) => void>();
  readonly #repeats = new Map<string, Repeat>();
  #window: NodeJS.Timeout | null = null;

  constructor(opts: DaemonLogOptions = {}) {
    this.#stderr = opts.stderr ?? true ? (opts.stderrStream ?? process.stderr) : null;
    // A stderr whose reader is gone fails every write (EPIPE): stop writing there rather than
    // fail, report the failure and fail again in a loop.
    this.#stderr?.on('error', () => {
      this.#stderr = null;
    });
    this.#level = RANK[opts.level ?? 'info'];
    if (opts.logger) this.useFile(opts.logger);
  }

  /** The file lines go to, or null before one is attached. */
  get file(): string | null {
    return this.#path;
  }

  /** Write to `logger.log_file` (or `<log_dir>/gracevisor.log`) from now on, rotated per `logger`. */
  useFile(logger: LoggerConfig): void {
    const path = logger.log_file ?? join(logger.log_dir, 'gracevisor.log');
    if (path === this.#path) return;
    const old = this.#file;
    const file = openRotating(path, logger);
    this.#file = file;
    this.#path = path;
    // A log that cannot be written must not take the daemon down; stderr still has the lines.
    file.on('error', (err: Error) => {
      if (this.#file === file) this.#file = null;
      this.#stderr?.write(`${new Date().toISOString()} ERROR daemon log file failed file=${path} error=${JSON.stringify(err.message)}\n`);
    });
    if (old) void endStream(old);
  }

  /** Hear every record written (returns the unsubscribe function). */
  onRecord(listener: (r: LogRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  debug(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('error', msg, fields);
  }

  /** Write one record at `level` (or count it, when its message has repeated too often in this window). */
  write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] < this.#level) return;
    if (RANK[level] < RANK.warn) {
      this.#emit(level, msg, fields);
      return;
    }
    const key = `${level} ${typeof fields.app === 'string' ? fields.app : ''} ${msg}`;
    const rep = this.#repeats.get(key);
    if (rep) {
      rep.count++;
      if (rep.count > REPEAT_BURST) {
        rep.suppressed++;
        rep.fields = fields;
        return;
      }
    } else {
      this.#repeats.set(key, { level, msg, count: 1, suppressed: 0, fields });
      this.#window ??= this.#startWindow();
    }
    this.#emit(level, msg, fields);
  }

  /** Flush and close the file. Never hangs: a file that already failed is just dropped. */
  async close(): Promise<void> {
    this.#flushRepeats();
    const f = this.#file;
    this.#file = null;
    this.#path = null;
    if (f) await endStream(f);
  }

  #emit(level: LogLevel, msg: string, fields: Record<string, unknown>): void {
    const rec: LogRecord = { time: new Date().toISOString(), level, msg, fields };
    for (const l of this.#listeners) {
      try {
        l(rec);
      } catch {
        // A listener's bug is not the daemon's.
      }
    }
    const line = formatRecord(rec);
    if (this.#stderr && !this.#stderr.destroyed) this.#stderr.write(line);
    if (this.#file && !this.#file.writableEnded && !this.#file.destroyed) this.#file.write(line);
  }

  #startWindow(): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#window = null;
      this.#flushRepeats();
    }, REPEAT_WINDOW_MS);
    t.unref();
    return t;
  }

  /** Write the count of every message suppressed in this window, and start counting afresh. */
  #flushRepeats(): void {
    if (this.#window) clearTimeout(this.#window);
    this.#window = null;
    const repeats = [...this.#repeats];
    this.#repeats.clear();
    for (const [, r] of repeats) {
      if (r.suppressed === 0) continue;
      this.#emit(r.level, `${r.msg} (repeated ${r.suppressed} more times in ${REPEAT_WINDOW_MS / 1000}s; last shown)`, { ...r.fields, repeated: r.suppressed });
    }
  }
}

/** End a file stream and wait for it to finish, or to fail, or to be gone already. */
function endStream(f: RotatingFileStream): Promise<void> {
  if (f.destroyed || f.writableFinished) return Promise.resolve();
  return new Promise<void>((resolve) => {
    f.once('finish', () => resolve());
    f.once('error', () => resolve());
    f.once('close', () => resolve());
    f.end();
  });
}

/** `<time> <LEVEL> <msg> k=v…` with values JSON-quoted when they hold spaces or quotes. */
export function formatRecord(r: LogRecord): string {
  let line = `${r.time} ${r.level.toUpperCase()} ${r.msg}`;
  for (const [k, v] of Object.entries(r.fields)) {
    if (v === undefined) continue;
    const s = v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v);
    line += ` ${k}=${/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s)}`;
  }
  return line.replace(/\n/g, '\\n') + '\n';
}
