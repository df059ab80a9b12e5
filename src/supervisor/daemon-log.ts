/**
 * The daemon's own log: one line per event, `<ISO time> <LEVEL> <message> key=value…`, to stderr
 * and, once a file is attached, to `config.logger.log_file` (default `<log_dir>/gracevisor.log`),
 * rotated like app logs. gracevisord creates it before the config is read and the Supervisor attaches
 * the file when the config is loaded.
 */
import { join } from 'node:path';
import type { RotatingFileStream } from 'rotating-file-stream';
import type { LoggerConfig } from '../config/model.js';
import { openRotating } from './rotation.js';

/** Log levels, least severe first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of a {@link DaemonLog}. */
export interface DaemonLogOptions {
  /** Also write to stderr (default true). */
  stderr?: boolean;
  /** Lowest level written (default `info`). */
  level?: LogLevel;
  /** Attach this logger config's file right away. */
  logger?: LoggerConfig;
}

/** One line as handed to listeners (tests, the control plane's log tail). */
export interface LogRecord {
  time: string;
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown>;
}

/** The daemon's log. */
export class DaemonLog {
  readonly #stderr: boolean;
  readonly #level: number;
  #file: RotatingFileStream | null = null;
  #path: string | null = null;
  readonly #listeners = new Set<(r: LogRecord) => void>();

  constructor(opts: DaemonLogOptions = {}) {
    this.#stderr = opts.stderr ?? true;
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
    this.#file = openRotating(path, logger);
    this.#path = path;
    // A log that cannot be written must not take the daemon down; stderr still has the lines.
    this.#file.on('error', (err: Error) => {
      if (this.#stderr) process.stderr.write(`${new Date().toISOString()} ERROR daemon log file failed file=${path} error=${JSON.stringify(err.message)}\n`);
    });
    old?.end();
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

  /** Write one record at `level`. */
  write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] < this.#level) return;
    const rec: LogRecord = { time: new Date().toISOString(), level, msg, fields };
    for (const l of this.#listeners) {
      try {
        l(rec);
      } catch {
        // A listener's bug is not the daemon's.
      }
    }
    const line = formatRecord(rec);
    if (this.#stderr) process.stderr.write(line);
    if (this.#file && !this.#file.writableEnded) this.#file.write(line);
  }

  /** Flush and close the file. */
  async close(): Promise<void> {
    const f = this.#file;
    this.#file = null;
    this.#path = null;
    if (!f) return;
    await new Promise<void>((resolve) => {
      f.once('finish', () => resolve());
      f.once('error', () => resolve());
      f.end();
    });
  }
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
