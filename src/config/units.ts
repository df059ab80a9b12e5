/**
 * Durations and sizes as the config writes them. The original format used plain numbers (seconds
 * for times, megabytes for log sizes); the new forms add units. Pure functions: the resolver turns
 * `null` into a GV_ERR_CONFIG_DURATION / GV_ERR_CONFIG_SIZE error at the value's position.
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration in milliseconds: a plain number is seconds (`1.5` = 1500 ms); a string is one or more
 * `<number><unit>` parts with units ms, s, m, h, d (`500ms`, `30s`, `1m30s`), or a plain number
 * in a string (`"30"` = 30 s). Null when it does not parse or is negative.
 */
export function parseDuration(v: string | number): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : null;
  const text = v.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) return null;
  let total = 0;
  for (const part of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(part[1]) * DURATION_UNITS[part[2]!]!;
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * A size in bytes: a plain number is megabytes (the original `max_log_size: 500`); a string is a
 * number with a unit K, M, G or T (binary multiples; an optional trailing `B`, any case: `500M`,
 * `1GB`, `64k`) or `B` for bytes. Null when it does not parse or is negative.
 */
export function parseSize(v: string | number): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * SIZE_UNITS.m!) : null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?b?)$/i.exec(v.trim());
  if (!m) return null;
  const unit = m[2]!.toLowerCase();
  // A bare number in a string is megabytes, like a plain number.
  const mult = unit === '' ? SIZE_UNITS.m! : SIZE_UNITS[unit[0]!]!;
  return Math.round(Number(m[1]) * mult);
}
