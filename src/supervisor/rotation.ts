/**
 * Turns the config's logger settings into rotating-file-stream streams, so app logs and the daemon's
 * log rotate the same way: by size (`max_log_size`), count (`max_logs_kept`) and age (`max_log_age`).
 */
import { unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { createStream, type Options, type RotatingFileStream } from 'rotating-file-stream';
import type { LoggerConfig } from '../config/model.js';

/** Rotation settings of one file. */
export type RotationSettings = Pick<LoggerConfig, 'max_log_size' | 'max_logs_kept' | 'max_log_age'>;

/**
 * A rotating stream appending to `file`. With a count, rotated files are `file.1` (newest) … `file.N`
 * (classical rotation, no history file); with no count (keep all) they are `file.<UTC stamp>-<n>`.
 */
export function openRotating(file: string, rot: RotationSettings): RotatingFileStream {
  const opts: Options = { path: dirname(file) };
  if (rot.max_log_size > 0) opts.size = `${Math.max(1, Math.floor(rot.max_log_size))}B`;
  if (rot.max_log_age !== null && rot.max_log_age > 0) opts.interval = rotationInterval(rot.max_log_age);
  const name = basename(file);
  if (rot.max_logs_kept !== null) {
    opts.rotate = Math.max(1, rot.max_logs_kept);
    const stream = createStream(name, opts);
    // `0 keeps none`: rotating-file-stream keeps at least one; the one it rotated out goes at once.
    if (rot.max_logs_kept === 0) stream.on('rotated', (rotated: string) => void unlink(rotated).catch(() => {}));
    return stream;
  }
  return createStream((time: number | Date | null, index?: number) => {
    if (!time) return name;
    const d = typeof time === 'number' ? new Date(time) : time;
    const stamp = d.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    return `${name}.${stamp}-${index ?? 1}`;
  }, opts);
}

// rotating-file-stream accepts seconds and minutes that divide 60 and hours that divide 24, or days.
const SECOND = 1000;
const VALID: { ms: number; text: string }[] = [];
for (const n of [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30]) VALID.push({ ms: n * SECOND, text: `${n}s` });
for (const n of [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30]) VALID.push({ ms: n * 60 * SECOND, text: `${n}m` });
for (const n of [1, 2, 3, 4, 6, 8, 12]) VALID.push({ ms: n * 3600 * SECOND, text: `${n}h` });

/**
 * The rotation interval rotating-file-stream can do for `ms`: whole days when at least a day,
 * otherwise the longest allowed interval not longer than asked (at least one second).
 */
export function rotationInterval(ms: number): string {
  const day = 86_400 * SECOND;
  if (ms >= day) return `${Math.floor(ms / day)}d`;
  let best = VALID[0]!;
  for (const v of VALID) if (v.ms <= ms) best = v;
  return best.text;
}
