/**
 * Progress of a long command on a terminal (restart, stop, reload, remove): the steps of the daemon's
 * event stream as they happen — new instance spawned, ready, switched, draining N in flight, drained,
 * stopped — so that a 30 s drain never looks like a hang: while an instance drains, a line every few
 * seconds says how much it still has in flight. Off a terminal (or with --quiet) nothing of this is
 * printed; the command prints its summary either way.
 */
import type { ControlClient } from '../../control/client.js';
import type { GvEvent } from '../../observe/index.js';
import type { Paint } from './base-command.js';

/** How often a long drain says it is still going, ms. */
const DRAIN_NOTE_MS = 2_000;
/** How often the drains are looked at, ms. */
const DRAIN_TICK_MS = 250;

/** One step of the stream as a line, or null for events that are not steps. */
export function stepLine(e: GvEvent, paint: Paint): string | null {
  const who = e.instance ?? '';
  const app = e.app ? `${e.app}: ` : '';
  switch (e.event) {
    case 'restart_started': return `${app}restart started (${e.reason})`;
    case 'instance_state':
      switch (e.to) {
        case 'starting': return `${app}${who} spawned (pid ${e.pid}, port ${e.port})`;
        case 'serving': return `${app}${who} ready`;
        case 'stopping': return `${app}${who} stopping`;
        case 'stopped': return `${app}${who} stopped`;
        case 'killed': return `${app}${paint.warn(`${who} killed (it did not stop within stop_timeout)`)}`;
        case 'failed':
        case 'timed_out': return `${app}${paint.bad(`${who} ${e.to === 'failed' ? 'failed' : 'timed out'}: ${(e.error as { message?: string } | undefined)?.message ?? ''}`)}`;
        case 'unhealthy': return `${app}${paint.warn(`${who} unhealthy`)}`;
        default: return null;
      }
    case 'switched': return `${app}traffic switched to ${(e.to as string[]).join(', ') || 'no instance'}`;
    case 'draining': return `${app}${who} draining (${e.inFlight} in flight)`;
    case 'drained': return `${app}${who} ${e.drained ? `drained in ${e.elapsedMs}ms` : paint.warn(`drain_timeout passed with ${e.open} still open`)}`;
    case 'restart_failed': return `${app}${paint.bad(`restart failed: ${(e.error as { code: string }).code}${e.detail ? ` (${e.detail})` : ''}`)}`;
    case 'app_added': return `${app}added`;
    case 'app_removed': return `${app}removed`;
    default: return null;
  }
}

/**
 * Run `action` while printing its steps (of `app`, or of every app) to `write`. `enabled` false runs
 * it bare. The stream is opened first, from the current event, so no step is missed.
 */
export async function withProgress<T>(client: ControlClient, opts: { app?: string; enabled: boolean; paint: Paint; write: (line: string) => void }, action: () => Promise<T>): Promise<T> {
  if (!opts.enabled) return action();
  let stream: Awaited<ReturnType<ControlClient['followEvents']>> | null = null;
  try {
    const last = await client.events({ n: 1 });
    stream = await client.followEvents({ ...(opts.app !== undefined && { app: opts.app }), since: last.at(-1)?.seq ?? 0, n: 10_000 });
  } catch {
    return action(); // a daemon without the stream: no progress, the command still runs
  }
  const draining = new Map<string, { app: string; since: number; noted: number }>();
  let buf = '';
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data === '') continue;
      const e = JSON.parse(data) as GvEvent;
      if (e.event === 'draining' && e.instance && e.app) draining.set(e.instance, { app: e.app, since: Date.now(), noted: Date.now() });
      if ((e.event === 'drained' || (e.event === 'instance_state' && e.to !== 'draining')) && e.instance) draining.delete(e.instance);
      const line = stepLine(e, opts.paint);
      if (line) opts.write(opts.paint.dim(line) + '\n');
    }
  });
  stream.on('error', () => {});
  // A long drain: say every few seconds how much is still in flight, from the daemon's own counters.
  const ticker = setInterval(() => {
    for (const [id, d] of draining) {
      if (Date.now() - d.noted < DRAIN_NOTE_MS) continue;
      d.noted = Date.now();
      void client.status(d.app).then((apps) => {
        const open = apps[0]?.stats.targets.find((tg) => tg.id === id)?.inFlight;
        if (draining.has(id) && open !== undefined) opts.write(opts.paint.dim(`${d.app}: ${id} still draining: ${open} in flight after ${Math.round((Date.now() - d.since) / 1000)}s`) + '\n');
      }, () => {});
    }
  }, DRAIN_TICK_MS);
  try {
    const result = await action();
    // The last steps were published before the answer; give their bytes a moment to arrive.
    await new Promise((r) => setTimeout(r, 150));
    return result;
  } finally {
    clearInterval(ticker);
    stream.destroy();
  }
}
