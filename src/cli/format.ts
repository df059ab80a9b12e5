/**
 * Plain-text rendering for gracevisorctl: aligned tables and short durations. No colours, so the
 * output reads the same in a terminal, a pipe and a test.
 */
import type { GvEvent } from '../observe/index.js';
import type { AppStatus } from '../supervisor/api.js';
import type { RegistryEntry } from '../plugins/types.js';

/** The width a cell takes on screen: its length without ANSI colour codes. */
function visible(cell: string): number {
  return cell.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** Rows of cells as left-aligned columns separated by two spaces; trailing spaces trimmed. */
export function table(rows: string[][], indent = ''): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, visible(cell)); });
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visible(cell)))).join('  ').trimEnd()).join('\n') + '\n';
}

/** `850ms`, `12s`, `5m02s`, `3h07m`, `2d04h`: how long an instance has been in its state. */
export function shortDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/**
 * One block per app: a header line (name, engine, public address, state, restarts, engine
 * counters), then a table of its instances with `*` marking those the engine sends new work to,
 * and each instance's in-flight and handled counts from the engine.
 */
export function formatStatus(apps: AppStatus[]): string {
  if (apps.length === 0) return 'no apps\n';
  return apps.map((app) => {
    const s = app.stats;
    let out = `${app.name}  ${app.engine} on ${app.address}  ${app.state}  restarts ${app.restarts}  connections ${s.connections}  requests ${s.requests}  errors ${s.errors}\n`;
    if (app.lastError) out += `  last error: ${app.lastError}\n`;
    if (app.instances.length === 0) return out + '  (no instances)\n';
    const rows = [['', 'INSTANCE', 'PID', 'PORT', 'STATE', 'SINCE', 'UPTIME', 'CPU', 'RSS', 'IN FLIGHT', 'HANDLED', 'LAST ERROR']];
    for (const i of app.instances) {
      // Per-instance engine counters: what a drain waits on, and what the instance has served.
      const ts = s.targets.find((x) => x.id === i.id);
      rows.push([
        i.active ? '*' : ' ', i.id, i.pid === null ? '-' : String(i.pid), String(i.port), i.state, shortDuration(i.sinceMs),
        shortDuration(i.uptimeMs), i.cpuSeconds === null ? '-' : `${i.cpuSeconds.toFixed(1)}s`, i.rssBytes === null ? '-' : bytes(i.rssBytes),
        ts ? String(ts.inFlight) : '-', ts ? String(ts.total) : '-', i.lastError ?? '-',
      ]);
    }
    return out + table(rows, '  ');
  }).join('\n');
}

/** Requests per second by app name and by instance id, for the live view. */
export type Rates = Map<string, number>;

/**
 * One frame of `status --watch` (PM2's monit is the model): per app its state, requests per second
 * and restarts; per instance its state, uptime, CPU, memory, requests per second and work in flight.
 */
export function formatWatch(apps: AppStatus[], rates: Rates, paint: { ok(s: string): string; bad(s: string): string; warn(s: string): string; dim(s: string): string; bold(s: string): string }, now: Date): string {
  const stateOf = (s: string): string => (s === 'running' || s === 'serving' ? paint.ok(s) : s === 'fatal' || s === 'failed' || s === 'unhealthy' ? paint.bad(s) : paint.warn(s));
  const rate = (k: string): string => (rates.has(k) ? `${rates.get(k)!.toFixed(1)}/s` : '-');
  const rows: string[][] = [['APP / INSTANCE', 'STATE', 'UPTIME', 'CPU', 'RSS', 'REQ/S', 'IN FLIGHT', 'RESTARTS']];
  for (const a of apps) {
    rows.push([paint.bold(a.name), stateOf(a.state), '', '', '', rate(a.name), String(a.stats.targets.reduce((n, tg) => n + tg.inFlight, 0)), String(a.restarts)]);
    for (const i of a.instances) {
      const tg = a.stats.targets.find((x) => x.id === i.id);
      rows.push([`  ${i.active ? '*' : ' '} ${i.id}`, stateOf(i.state), shortDuration(i.uptimeMs), i.cpuSeconds === null ? '-' : `${i.cpuSeconds.toFixed(1)}s`, i.rssBytes === null ? '-' : bytes(i.rssBytes), rate(i.id), tg ? String(tg.inFlight) : '-', '']);
    }
  }
  return `${paint.dim(`gracevisor  ${now.toISOString()}  (Ctrl-C to quit)`)}

${table(rows)}`;
}

/**
 * `plugins list`: id, plugin, what of the config uses it, available (or the reason it is not), and
 * what it does. The kind is the id's first part.
 */
export function formatPlugins(entries: (RegistryEntry & { usedBy?: string[] })[]): string {
  const rows = [['ID', 'PLUGIN', 'USED BY', 'AVAILABLE', 'DESCRIPTION']];
  for (const e of entries) rows.push([e.id, e.plugin, e.usedBy === undefined ? '-' : e.usedBy.join(',') || '-', e.available ? 'yes' : `no: ${e.reason ?? 'unavailable'}`, e.description]);
  return table(rows);
}

/** `12.3M`, `1.2G`: a byte count for a table cell. */
export function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/** One event as a line: time, app, instance, what happened (`gracevisorctl events`). */
export function formatEvent(e: GvEvent): string {
  const head = `${e.at}  ${e.app ?? '-'}  ${e.instance ?? '-'}  ${e.event}`;
  const err = e.error && typeof e.error === 'object' ? ` ${(e.error as { code?: string }).code ?? ''}: ${(e.error as { message?: string }).message ?? ''}`.replace(/^ :/, '') : '';
  let what = '';
  switch (e.event) {
    case 'instance_state': what = ` ${e.from ?? 'new'} -> ${e.to}`; break;
    case 'switched': what = ` traffic to ${(e.to as string[]).join(',') || 'nothing'}${(e.from as string[]).length ? ` (from ${(e.from as string[]).join(',')})` : ''}`; break;
    case 'drained': what = e.drained ? ` in ${e.elapsedMs}ms` : ` drain_timeout passed with ${e.open} open`; break;
    case 'restart_started': what = ` (${e.reason})`; break;
    case 'restart_succeeded': what = ` in ${e.durationMs}ms, serving ${(e.instances as string[]).join(',')}`; break;
    case 'restart_failed': what = ` attempt ${e.attempt}${e.nextAttemptMs === null ? ', giving up' : `, next in ${e.nextAttemptMs}ms`}${e.detail ? ` (last: ${e.detail})` : ''}`; break;
    case 'instance_exit':
    case 'instance_stopped': {
      const x = e.exit as { code: number | null; signal: string | null } | undefined;
      what = x ? ` pid ${e.pid} ${x.signal ? `signal ${x.signal}` : `code ${x.code}`}` : '';
      break;
    }
    case 'health': what = ` ${e.healthy ? 'healthy' : 'failing'}: ${e.detail}`; break;
    case 'unhealthy': what = e.detail ? ` ${e.detail}` : ''; break;
    case 'config_reloaded': what = ` added ${(e.added as string[]).join(',') || '-'} removed ${(e.removed as string[]).join(',') || '-'} changed ${(e.changed as string[]).join(',') || '-'}`; break;
    case 'daemon_stopping': what = e.signal ? ` (${e.signal})` : ''; break;
    default: break;
  }
  return `${head}${what}${err}\n`;
}
