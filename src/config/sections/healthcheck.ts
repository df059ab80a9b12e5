/**
 * An app's `healthcheck`: the original format's path string (an http check), or a block with a
 * `type`. This reads only the keys every type shares; the rest are the type's own options, kept as
 * given (with their positions) for the type's parser to check once plugins are loaded
 * (../validate.ts). No type's rules live here.
 */
import type { SourcePosition } from '../../errors.js';
import { DEFAULTS } from '../defaults.js';
import type { HealthcheckConfig } from '../model.js';
import { describeRaw, getEntry, typeOptions, type RawEntry } from '../raw.js';
import { field, readFields, type Reader } from '../reader.js';

/** The keys every check type takes, read here; every other key belongs to the type. */
const COMMON = {
  interval: field(DEFAULTS.healthcheck_interval, (r, v) => r.duration(v, 'healthcheck.interval', { min: 1 }) ?? undefined),
  timeout: field(DEFAULTS.healthcheck_timeout, (r, v) => r.duration(v, 'healthcheck.timeout', { min: 1 }) ?? undefined),
  unhealthy_threshold: field(DEFAULTS.healthcheck_unhealthy_threshold, (r, v) => r.integer(v, 'healthcheck.unhealthy_threshold', 1, 1000)),
};

/** The common keys, `type` included. */
export const HEALTHCHECK_COMMON_KEYS: readonly string[] = ['type', ...Object.keys(COMMON)];

/** A check as resolved, and where its type-specific options were written. */
export interface HealthcheckRead {
  config: HealthcheckConfig;
  /** The type's own options, as given. */
  options: Record<string, unknown>;
  /** Where the `healthcheck` key is. */
  pos: SourcePosition;
  /** Where each option's value is. */
  optionPos: Record<string, SourcePosition>;
}

/** The check of entry `e`, or undefined after an error. */
export function readHealthcheck(r: Reader, e: RawEntry): HealthcheckRead | undefined {
  const v = e.value;
  const defaults = { interval: COMMON.interval.default, timeout: COMMON.timeout.default, unhealthy_threshold: COMMON.unhealthy_threshold.default };
  if (v.kind === 'scalar' && typeof v.value === 'string') {
    return { config: { type: 'http', ...defaults, path: v.value }, options: { path: v.value }, pos: e.keyPos, optionPos: { path: v.pos } };
  }
  if (v.kind !== 'map') {
    r.error('GV_ERR_CONFIG_TYPE', `"healthcheck" must be a path ("/health") or a block with a type, not ${describeRaw(v)}`, v.pos);
    return undefined;
  }
  const typeE = getEntry(v, 'type');
  const type = typeE ? r.nonEmpty(typeE.value, 'healthcheck.type') : 'http';
  if (type === undefined) return undefined;
  const before = r.errors.length;
  const common = readFields(r, v, COMMON);
  const { options, optionPos } = typeOptions(v, HEALTHCHECK_COMMON_KEYS);
  if (r.errors.length > before) return undefined;
  return { config: { type, ...common, ...options }, options, pos: e.keyPos, optionPos };
}
