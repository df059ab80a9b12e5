/**
 * The `logger` section, global and per app. The global one sets the daemon's own log and the values
 * every app inherits; an app's may override any of them and name its stdout/stderr files.
 */
import { join } from 'node:path';
import type { SourcePosition } from '../../errors.js';
import { DEFAULTS } from '../defaults.js';
import type { AppLoggerConfig, LoggerConfig } from '../model.js';
import { getEntry, type RawEntry, type RawMap, type RawValue } from '../raw.js';
import { field, readFields, type Reader } from '../reader.js';

/** The keys global and app loggers share; each reads its value the same way in both. */
const COMMON = {
  log_dir: field<string | undefined>(undefined, (r, v, k) => r.path(v, `logger.${k}`)),
  max_log_size: field<number | undefined>(undefined, (r, v, k) => r.size(v, `logger.${k}`)),
  max_logs_kept: field<number | null | undefined>(undefined, (r, v, k) => {
    const n = r.integer(v, `logger.${k}`, -1, 1_000_000);
    return n === undefined ? undefined : n === -1 ? null : n;
  }),
  // Rotation by age runs on rotating-file-stream's own clock, which takes any length: up to ten years.
  max_log_age: field<number | null | undefined>(undefined, (r, v, k) => r.duration(v, `logger.${k}`, { unlimited: true, min: 1, max: 3650 * 86_400_000 })),
  log_format: field<LoggerConfig['log_format'] | undefined>(undefined, (r, v, k) => {
    const f = r.nonEmpty(v, `logger.${k}`);
    if (f === undefined || f === 'prefixed' || f === 'raw') return f;
    r.error('GV_ERR_CONFIG_RANGE', `"logger.${k}" is prefixed or raw, not ${JSON.stringify(f)}`, v.pos, { value: f, allowed: ['prefixed', 'raw'] });
    return undefined;
  }),
};

/** Every key of the global `logger`. */
export const LOGGER_KEYS: readonly string[] = [...Object.keys(COMMON), 'log_file'];
/** Every key of an app's `logger`. */
export const APP_LOGGER_KEYS: readonly string[] = [...Object.keys(COMMON), 'log_file', 'stdout_log_file', 'stderr_log_file'];

/** The shared keys of `m` laid over `base` (a key left out, or one that fails to read, keeps the base value). */
function overlay(r: Reader, m: RawMap, base: LoggerConfig): LoggerConfig {
  const v = readFields(r, m, COMMON);
  return {
    log_dir: v.log_dir ?? base.log_dir,
    log_file: null,
    max_log_size: v.max_log_size ?? base.max_log_size,
    max_logs_kept: v.max_logs_kept === undefined ? base.max_logs_kept : v.max_logs_kept,
    max_log_age: v.max_log_age === undefined ? base.max_log_age : v.max_log_age,
    log_format: v.log_format ?? base.log_format,
  };
}

/** The global `logger` (defaults for a missing one); `file` is the main config, for the position of a missing block. */
export function readGlobalLogger(r: Reader, v: RawValue | undefined, file: string): LoggerConfig {
  const base: LoggerConfig = { log_dir: DEFAULTS.log_dir, log_file: null, max_log_size: DEFAULTS.max_log_size, max_logs_kept: null, max_log_age: null, log_format: 'prefixed' };
  const m = v === undefined ? undefined : r.map(v, 'logger', { file, line: 1, col: 1 });
  if (!m) return { ...base, log_file: join(base.log_dir, 'gracevisor.log') };
  r.checkKeys(m, LOGGER_KEYS, '"logger"');
  const out = overlay(r, m, base);
  const logFile = getEntry(m, 'log_file');
  out.log_file = (logFile && r.path(logFile.value, 'logger.log_file')) ?? join(out.log_dir, 'gracevisor.log');
  return out;
}

/** An app's `logger`, inheriting every key it does not give from the global one `g`. */
export function readAppLogger(r: Reader, e: RawEntry | undefined, g: LoggerConfig, name: string, appPos: SourcePosition): AppLoggerConfig {
  let out: LoggerConfig = { ...g, log_file: null };
  let stdout: string | undefined;
  let stderr: string | undefined;
  const m = e ? r.map(e.value, 'logger', appPos) : undefined;
  if (m) {
    r.checkKeys(m, APP_LOGGER_KEYS, 'an app\'s "logger"');
    out = overlay(r, m, g);
    const path = (k: string): string | undefined => {
      const x = getEntry(m, k);
      return x ? r.path(x.value, `logger.${k}`) : undefined;
    };
    out.log_file = path('log_file') ?? null;
    stdout = path('stdout_log_file');
    stderr = path('stderr_log_file');
  }
  return {
    ...out,
    stdout_log_file: stdout ?? out.log_file ?? join(out.log_dir, `app_${name}.out`),
    stderr_log_file: stderr ?? out.log_file ?? join(out.log_dir, `app_${name}.err`),
  };
}
