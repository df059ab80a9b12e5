/**
 * Probes: is an instance's port accepting, does its health check pass. Used for readiness (fast,
 * backing-off loop while `starting`) and liveness (every `interval` while `serving`).
 */
import { connect } from 'node:net';
import type { Target } from '../engines/engine.js';
import type { HealthcheckConfig } from '../config/model.js';
import type { HealthcheckDefinition, ProbeResult } from '../plugins/types.js';

/** One probe of an instance. */
export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

/** Ready when host:port accepts a TCP connection. */
export function tcpProbe(host: string, port: number): Probe {
  return (signal) => new Promise<ProbeResult>((resolve) => {
    const t0 = Date.now();
    const sock = connect({ host, port });
    const done = (r: ProbeResult): void => {
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve(r);
    };
    const onAbort = (): void => done({ ok: false, detail: 'timeout' });
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => done({ ok: true, detail: `connected in ${Date.now() - t0}ms` }));
    sock.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, detail: err.code ?? err.message }));
  });
}

/** Ready (and alive) when the configured check type's probe passes. */
export function healthcheckProbe(def: HealthcheckDefinition, target: Target, check: HealthcheckConfig): Probe {
  return async (signal) => {
    try {
      return await def.probe(target, check, signal);
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  };
}

/** Run `probe` under a timeout of `timeoutMs` (combined with `outer`), never rejecting. */
export async function probeOnce(probe: Probe, timeoutMs: number, outer?: AbortSignal): Promise<ProbeResult> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), Math.max(1, timeoutMs));
  const onOuter = (): void => ctl.abort();
  outer?.addEventListener('abort', onOuter, { once: true });
  try {
    return await probe(ctl.signal);
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}
