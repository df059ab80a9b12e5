/**
 * `metrics`: where Prometheus can scrape and where StatsD is pushed to. `/metrics` is always on the
 * control API; `listen` adds a listener of its own for scrapers (no token needed there unless
 * `token` is set); `statsd` pushes the same counters and timings over UDP.
 */
import type { MetricsConfig } from '../model.js';
import { getEntry, type RawEntry, type RawValue } from '../raw.js';
import { isNull, type Reader } from '../reader.js';

export const METRICS_KEYS: readonly string[] = ['listen', 'token', 'statsd'];
export const STATSD_KEYS: readonly string[] = ['host', 'port', 'prefix', 'interval'];

/** The section (no listener and no StatsD when it is left out). */
export function readMetrics(r: Reader, entry: RawEntry | undefined): MetricsConfig {
  const out: MetricsConfig = { listen: null, token: null, statsd: null };
  if (!entry || isNull(entry.value)) return out;
  const m = r.map(entry.value, 'metrics', entry.keyPos);
  if (!m) return out;
  r.checkKeys(m, METRICS_KEYS, '"metrics"');
  const listen = getEntry(m, 'listen');
  if (listen) out.listen = readAddress(r, listen.value, 'metrics.listen') ?? null;
  const token = getEntry(m, 'token');
  if (token) out.token = r.nonEmpty(token.value, 'metrics.token') ?? null;
  const statsd = getEntry(m, 'statsd');
  if (statsd && !isNull(statsd.value)) {
    const s = r.map(statsd.value, 'metrics.statsd', statsd.keyPos);
    if (s) {
      r.checkKeys(s, STATSD_KEYS, '"metrics.statsd"');
      const host = getEntry(s, 'host');
      const port = getEntry(s, 'port');
      const prefix = getEntry(s, 'prefix');
      const interval = getEntry(s, 'interval');
      out.statsd = {
        host: (host && r.nonEmpty(host.value, 'metrics.statsd.host')) ?? '127.0.0.1',
        port: (port && r.port(port.value, 'metrics.statsd.port')) ?? 8125,
        prefix: (prefix && r.string(prefix.value, 'metrics.statsd.prefix')) ?? 'gracevisor.',
        interval: (interval && r.duration(interval.value, 'metrics.statsd.interval', { min: 100 })) ?? 10_000,
      };
    }
  }
  return out;
}

/** `HOST:PORT`, `[::1]:PORT` or a bare port (on 127.0.0.1). Also `web.listen` (./web.ts); `example` is shown in the error. */
export function readAddress(r: Reader, v: RawValue, what: string, example = '127.0.0.1:9464'): { host: string; port: number } | undefined {
  if (v.kind === 'scalar' && typeof v.value === 'number') {
    const port = r.port(v, what);
    return port === undefined ? undefined : { host: '127.0.0.1', port };
  }
  const s = r.nonEmpty(v, what);
  if (s === undefined) return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    r.error('GV_ERR_CONFIG_TYPE', `"${what}" is HOST:PORT (${example}), not ${JSON.stringify(s)}`, v.pos, { value: s });
    return undefined;
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
