/** `port_range`: the internal ports handed to instances, `{from, to}` or `[from, to]`. */
import { DEFAULTS } from '../defaults.js';
import { getEntry, type RawEntry, type RawValue } from '../raw.js';
import type { Reader } from '../reader.js';

/** Every key of the mapping form. */
export const PORT_RANGE_KEYS: readonly string[] = ['from', 'to'];

/** The range (the default one when the key is missing or broken). */
export function readPortRange(r: Reader, entry: RawEntry | undefined): { from: number; to: number } {
  const out = { from: DEFAULTS.port_range.from, to: DEFAULTS.port_range.to };
  if (!entry) return out;
  const v = entry.value;
  let fromV: RawValue | undefined;
  let toV: RawValue | undefined;
  if (v.kind === 'list') {
    if (v.items.length !== 2) {
      r.error('GV_ERR_CONFIG_TYPE', `"port_range" takes two ports (from and to), not ${v.items.length}`, v.pos);
      return out;
    }
    [fromV, toV] = v.items;
  } else {
    const m = r.map(v, 'port_range', entry.keyPos);
    if (!m) return out;
    r.checkKeys(m, PORT_RANGE_KEYS, '"port_range"');
    fromV = getEntry(m, 'from')?.value;
    toV = getEntry(m, 'to')?.value;
  }
  const from = fromV ? r.port(fromV, 'port_range.from') : out.from;
  const to = toV ? r.port(toV, 'port_range.to') : out.to;
  if (from === undefined || to === undefined) return out;
  if (from > to) {
    r.error('GV_ERR_CONFIG_RANGE', `"port_range" is inverted: from ${from} is above to ${to}`, entry.keyPos, { from, to });
    return out;
  }
  return { from, to };
}
