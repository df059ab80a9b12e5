/**
 * Running probes: readiness (a fast, backing-off loop while an instance is `starting`) and liveness
 * (every `interval` while it is `serving`). A probe is a health check type's `probe` (from the
 * registry; without a configured check, readiness is `healthchecks.tcp`: the port accepts a
 * connection). The runner, not the probe, enforces each probe's timeout.
 */
import type { HealthcheckConfig } from '../config/model.js';
import type { Target } from '../plugins/engine.js';
import type { HealthcheckDefinition, ProbeResult } from '../plugins/types.js';

/** One probe of an instance. */
export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

/** A probe of `target` by a check type's definition; a throw is a failed probe. */
export function healthcheckProbe(def: HealthcheckDefinition, target: Target, check: HealthcheckConfig): Probe {
  return async (signal) => {
    try {
      return await def.probe(target, check, signal);
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  };
}

/**
 * Run `probe` for at most `timeoutMs` (and no longer than `outer` allows), never rejecting. At the
 * timeout the probe's signal is aborted and the result is a failure at once, whether or not the
 * probe honours its signal: a probe that never settles cannot hold a start or a liveness loop.
 */
export async function probeOnce(probe: Probe, timeoutMs: number, outer?: AbortSignal): Promise<ProbeResult> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onOuter = (): void => ctl.abort();
  outer?.addEventListener('abort', onOuter, { once: true });
  const expired = new Promise<ProbeResult>((resolve) => {
    const fail = (): void => resolve({ ok: false, detail: outer?.aborted ? 'aborted' : `timed out after ${timeoutMs}ms` });
    timer = setTimeout(() => {
      ctl.abort();
      fail();
    }, Math.max(1, timeoutMs));
    ctl.signal.addEventListener('abort', fail, { once: true });
  });
  try {
    return await Promise.race([
      Promise.resolve().then(() => probe(ctl.signal)).catch((err: unknown) => ({ ok: false, detail: err instanceof Error ? err.message : String(err) })),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}
