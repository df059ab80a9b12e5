/**
 * `web`: the live dashboard (src/control/web/, docs/architecture.md "Web dashboard"). Off unless the section is there:
 * `web: { listen: 127.0.0.1:9002 }` / `web { listen 127.0.0.1:9002; }`. `behind_tls` says a TLS
 * proxy sits in front of it (no warning for a non-loopback address; a `Secure` session cookie).
 */
import type { WebConfig } from '../model.js';
import { describeRaw, getEntry, type RawEntry, type RawValue } from '../raw.js';
import { isNull, type Reader } from '../reader.js';
import { readAddress } from './metrics.js';

export const WEB_KEYS: readonly string[] = ['listen', 'behind_tls'];

/** Another listener of the same config, which `web.listen` must not share. */
export interface TakenAddress {
  what: string;
  host: string;
  port: number;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '*', '[::]']);

/**
 * The section, or null when it is left out (or empty: `web:`). `listen` is required: a dashboard
 * opens a port, so it is never opened by a default. `taken`: the other listeners of the config
 * (apps, `metrics.listen`, `rpc` on TCP); the dashboard on one of them would fail to bind at start.
 */
export function readWeb(r: Reader, entry: RawEntry | undefined, taken: readonly TakenAddress[] = []): WebConfig | null {
  if (!entry || isNull(entry.value)) return null;
  const m = r.map(entry.value, 'web', entry.keyPos);
  if (!m) return null;
  r.checkKeys(m, WEB_KEYS, '"web"');
  const listenE = getEntry(m, 'listen');
  if (!listenE) {
    r.error('GV_ERR_CONFIG_REQUIRED', '"web" needs "listen": the address of the dashboard, e.g. 127.0.0.1:9002', entry.keyPos);
    return null;
  }
  const listen = readAddress(r, listenE.value, 'web.listen', '127.0.0.1:9002');
  const tlsE = getEntry(m, 'behind_tls');
  const behind_tls = (tlsE && readSwitch(r, tlsE.value, 'web.behind_tls')) ?? false;
  if (!listen) return null;
  const clash = taken.find((o) => o.port === listen.port && (o.host === listen.host || WILDCARDS.has(o.host) || WILDCARDS.has(listen.host)));
  if (clash) {
    r.error('GV_ERR_CONFIG_DUPLICATE_LISTEN', `"web.listen" ${listen.host}:${listen.port} is also the address of ${clash.what}`, listenE.value.pos, { host: listen.host, port: listen.port, other: clash.what });
  }
  return { listen, behind_tls };
}

const ON = new Set(['on', 'yes', 'true']);
const OFF = new Set(['off', 'no', 'false']);

/** A yes/no value: YAML's true/false, or on/off, yes/no, true/false written as words (the DSL's form). */
function readSwitch(r: Reader, v: RawValue, what: string): boolean | undefined {
  if (v.kind === 'scalar') {
    if (typeof v.value === 'boolean') return v.value;
    if (typeof v.value === 'string' && ON.has(v.value.toLowerCase())) return true;
    if (typeof v.value === 'string' && OFF.has(v.value.toLowerCase())) return false;
  }
  r.error('GV_ERR_CONFIG_TYPE', `"${what}" is on or off (true/false, yes/no), not ${v.kind === 'scalar' ? JSON.stringify(v.value) : describeRaw(v)}`, v.pos);
  return undefined;
}
