/**
 * `alerts`, global and per app: a list of routes, each `{ type, events, interval, timeout, retries,
 * …the type's own options }`. This reads the keys every route shares; the rest belong to the type
 * (`alerters.<type>`), which parses them once plugins are loaded (../validate.ts). An app's list adds
 * to the global one; `alerts: []` (DSL: `alerts off;`) in an app turns the global ones off for it.
 */
import type { SourcePosition } from '../../errors.js';
import type { AlertConfig } from '../model.js';
import { describeRaw, getEntry, typeOptions, type RawValue } from '../raw.js';
import { field, isNull, readFields, type Reader } from '../reader.js';
import { suggest } from '../suggest.js';

/** The events a route may name, and the ones it sends when it names none (the failures). */
export const ALERT_EVENT_NAMES: readonly string[] = ['restart_failed', 'app_fatal', 'instance_exit', 'unhealthy', 'reload_failed', 'restart_succeeded', 'daemon_started', 'daemon_stopping'];
export const DEFAULT_EVENTS: readonly string[] = ['restart_failed', 'app_fatal', 'instance_exit', 'unhealthy', 'reload_failed'];

/** The keys every route takes; every other key is the type's. */
const COMMON = {
  interval: field(60_000, (r, v) => r.duration(v, 'alerts.interval', { min: 1 }) ?? undefined),
  timeout: field(5_000, (r, v) => r.duration(v, 'alerts.timeout', { min: 1 }) ?? undefined),
  retries: field(3, (r, v) => r.integer(v, 'alerts.retries', 0, 10)),
};
export const ALERT_COMMON_KEYS: readonly string[] = ['type', 'events', ...Object.keys(COMMON)];

/** One route as read, and where its own options were written (for the type's parser). */
export interface AlertRead {
  config: AlertConfig;
  options: Record<string, unknown>;
  pos: SourcePosition;
  optionPos: Record<string, SourcePosition>;
}

/**
 * A list of routes; an empty value is none. `off` (or `none`), like an empty list, also says "not
 * the global routes either" (see {@link inheritsGlobalAlerts}).
 */
export function readAlerts(r: Reader, v: RawValue, where: string): AlertRead[] {
  if (isNull(v) || isOff(v)) return [];
  if (v.kind !== 'list') {
    r.error('GV_ERR_CONFIG_TYPE', `"alerts" ${where} must be a list of alert routes, not ${describeRaw(v)}`, v.pos);
    return [];
  }
  const out: AlertRead[] = [];
  for (const item of v.items) {
    const a = readAlert(r, item);
    if (a) out.push(a);
  }
  return out;
}

/** False when an app's `alerts` value turns the global routes off: an empty list, or `off` / `none`. */
export function inheritsGlobalAlerts(v: RawValue | undefined): boolean {
  if (!v) return true;
  return !((v.kind === 'list' && v.items.length === 0) || isOff(v));
}

function isOff(v: RawValue): boolean {
  return v.kind === 'scalar' && (v.value === 'off' || v.value === 'none' || v.value === false);
}

function readAlert(r: Reader, v: RawValue): AlertRead | undefined {
  if (v.kind !== 'map') {
    r.error('GV_ERR_CONFIG_TYPE', `an alert route is a mapping with a "type", not ${describeRaw(v)}`, v.pos);
    return undefined;
  }
  const typeE = getEntry(v, 'type');
  if (!typeE) {
    r.error('GV_ERR_CONFIG_REQUIRED', 'an alert route needs a "type" (webhook, exec, log, or a plugin\'s)', v.pos);
    return undefined;
  }
  const type = r.nonEmpty(typeE.value, 'alerts.type');
  if (type === undefined) return undefined;
  const before = r.errors.length;
  const eventsE = getEntry(v, 'events');
  const events = eventsE ? readEvents(r, eventsE.value) : [...DEFAULT_EVENTS];
  const common = readFields(r, v, COMMON);
  const { options, optionPos } = typeOptions(v, ALERT_COMMON_KEYS);
  if (r.errors.length > before) return undefined;
  return { config: { type, events, ...common, ...options }, options, pos: typeE.keyPos, optionPos };
}

function readEvents(r: Reader, v: RawValue): string[] {
  const out: string[] = [];
  for (const { value, pos } of r.stringList(v, 'alerts.events')) {
    if (value === 'all') {
      out.push(...ALERT_EVENT_NAMES);
      continue;
    }
    if (!ALERT_EVENT_NAMES.includes(value)) {
      const s = suggest(value, ALERT_EVENT_NAMES);
      r.error('GV_ERR_CONFIG_RANGE', `"alerts.events": ${JSON.stringify(value)} is not an event${s ? `; did you mean "${s}"?` : ''} (${ALERT_EVENT_NAMES.join(', ')}, or all)`, pos, { value, suggestion: s });
      continue;
    }
    out.push(value);
  }
  return [...new Set(out)];
}
