// Numbers and events as a person reads them.

/** 850 ms, 12.3 s, 4m 05s, 2h 10m, 3d 4h */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** How long ago an ISO time was: "12 s ago". */
export function ago(iso, now = Date.now()) {
  if (!iso) return '—';
  return `${duration(Math.max(0, now - Date.parse(iso)))} ago`;
}

/** 12:03:04 (local time). */
export function clock(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** 42.1 MB */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** 3.2 % */
export function percent(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} %`;
}

/** A rate: 0, 12.3, 1.2k */
export function rate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  return v < 10 ? v.toFixed(1) : String(Math.round(v));
}

/** The last non-null value of a series. */
export function latest(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

function exitText(exit) {
  if (!exit) return '';
  if (exit.signal) return ` (${exit.signal})`;
  if (exit.code !== null && exit.code !== undefined) return ` (exit ${exit.code})`;
  return '';
}

/**
 * One event as a line of progress, the way `gracevisorctl restart` prints it; null for events
 * not worth a line. `tone` colours it: ok, bad, or nothing.
 */
export function describe(e) {
  switch (e.event) {
    case 'restart_started':
      return { text: `restart started (${e.reason ?? 'operator'})` };
    case 'instance_state':
      if (e.to === 'starting') return { text: `${e.instance} spawned (pid ${e.pid}, port ${e.port})` };
      if (e.to === 'serving') return { text: `${e.instance} ready`, tone: 'ok' };
      if (e.to === 'stopping') return { text: `${e.instance} stopping` };
      if (e.to === 'stopped') return { text: `${e.instance} stopped` };
      if (e.to === 'killed') return { text: `${e.instance} killed (SIGKILL)`, tone: 'bad' };
      if (e.to === 'failed' || e.to === 'timed_out') return { text: `${e.instance} ${e.to === 'failed' ? 'failed to start' : 'not ready in time'}${e.error ? `: ${e.error.message}` : ''}`, tone: 'bad' };
      if (e.to === 'unhealthy') return { text: `${e.instance} unhealthy`, tone: 'bad' };
      return null;
    case 'switched':
      return { text: `traffic switched to ${(e.to ?? []).join(', ') || 'no instance'}` };
    case 'draining':
      return { text: `${e.instance} draining (${e.inFlight} in flight)` };
    case 'drained':
      return e.drained === false
        ? { text: `${e.instance} drain_timeout passed with ${e.open} open`, tone: 'bad' }
        : { text: `${e.instance} drained in ${duration(e.elapsedMs)}` };
    case 'instance_exit':
      return { text: `${e.instance} crashed${exitText(e.exit)}`, tone: 'bad' };
    case 'restart_succeeded':
      return { text: `restart done in ${duration(e.durationMs)}`, tone: 'ok' };
    case 'restart_failed':
      return { text: `restart failed: ${e.error?.code ?? ''} ${e.error?.message ?? ''}`.trim(), tone: 'bad' };
    case 'app_fatal':
      return { text: `gave up after ${e.retries} retries: ${e.error?.message ?? ''}`, tone: 'bad' };
    case 'health':
      return { text: `${e.instance} ${e.healthy ? 'healthy again' : 'failing its check'}${e.detail ? `: ${e.detail}` : ''}`, tone: e.healthy ? 'ok' : 'bad' };
    case 'app_added':
      return { text: 'app added' };
    case 'app_removed':
      return { text: 'app removed' };
    default:
      return null;
  }
}
