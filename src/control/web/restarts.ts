/**
 * Restart timelines for the dashboard, read off the event stream (src/observe/events.ts): each
 * restart from `restart_started` to `restart_succeeded` / `restart_failed`, with its steps — spawn
 * (the new instance started), ready (its readiness passed), switch (traffic moved), drain (the old
 * one finished its work), stop (the old one is gone) — and how long each took, so that a slow drain
 * shows. Kept per app, the last {@link RESTARTS_PER_APP}; the page gets them whole at connect and
 * each one again whenever it changes. Pure bookkeeping: it only listens.
 */
import type { GvEvent } from '../../observe/index.js';

/** Restarts kept per app. */
export const RESTARTS_PER_APP = 20;
/** Steps kept per restart (an app of many instances has five per instance). */
const MAX_STEPS = 100;

/** One step of a restart. `ms`: time since the step before it (or the restart's start). */
export interface RestartStep {
  step: 'spawn' | 'ready' | 'switch' | 'drain' | 'stop';
  instance: string | null;
  at: string;
  ms: number;
  /** False for a step that did not go as it should: a start that failed, a drain cut by `drain_timeout`, a SIGKILL. */
  ok: boolean;
  detail?: string;
}

/** One restart of one app. `id` is the seq of its `restart_started` event. */
export interface RestartRecord {
  id: number;
  app: string;
  reason: string;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  /** `running` until it ends; `interrupted` when another began before this one said how it ended. */
  result: 'running' | 'succeeded' | 'failed' | 'interrupted';
  error: { code: string; message: string } | null;
  steps: RestartStep[];
}

/** What the dashboard reads of the event hub (src/observe/events.ts): its two reading methods. */
export interface EventFeed {
  recent(opts?: { limit?: number }): GvEvent[];
  subscribe(fn: (e: GvEvent) => void): () => void;
}

function errorOf(v: unknown): { code: string; message: string } | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') {
    const e = v as { code?: unknown; message?: unknown };
    return { code: typeof e.code === 'string' ? e.code : 'GV_ERR_INTERNAL', message: typeof e.message === 'string' ? e.message : String(v) };
  }
  return { code: 'GV_ERR_INTERNAL', message: String(v) };
}

/** The restarts of every app, kept up to date from the events. */
export class RestartTracker {
  readonly #byApp = new Map<string, RestartRecord[]>();
  /** Per app: the restart under way, and the time of its last step (what the next step's `ms` counts from). */
  readonly #open = new Map<string, { record: RestartRecord; lastAt: number }>();
  #onChange: (r: RestartRecord) => void = () => undefined;
  readonly #off: () => void;

  /** Replay what `events` still holds, then follow it; `onChange` hears every record that changed. */
  constructor(events: EventFeed, onChange: (r: RestartRecord) => void = () => undefined) {
    for (const e of events.recent()) this.feed(e);
    // Set after the replay: what happened before the dashboard started is state, not news.
    this.#onChange = onChange;
    this.#off = events.subscribe((e) => this.feed(e));
  }

  /** Every app's restarts, oldest first. */
  all(): Record<string, RestartRecord[]> {
    return Object.fromEntries([...this.#byApp].map(([app, list]) => [app, list]));
  }

  /** The restarts of `app`, oldest first. */
  of(app: string): RestartRecord[] {
    return this.#byApp.get(app) ?? [];
  }

  /** Take one event into account (the constructor subscribes this; tests call it directly). */
  feed(e: GvEvent): void {
    const app = e.app;
    if (app === null) return;
    const at = Date.parse(e.at);
    switch (e.event) {
      case 'restart_started': {
        const prev = this.#open.get(app);
        if (prev) this.#end(prev.record, at, 'interrupted', null);
        const record: RestartRecord = { id: e.seq, app, reason: String(e.reason ?? 'operator'), startedAt: e.at, endedAt: null, durationMs: null, result: 'running', error: null, steps: [] };
        const list = this.#byApp.get(app) ?? [];
        list.push(record);
        if (list.length > RESTARTS_PER_APP) list.splice(0, list.length - RESTARTS_PER_APP);
        this.#byApp.set(app, list);
        this.#open.set(app, { record, lastAt: at });
        this.#onChange(record);
        return;
      }
      case 'instance_state': {
        const to = e.to as string;
        if (to === 'starting') return this.#step(app, e, at, 'spawn', true, e.pid ? `pid ${String(e.pid)}, port ${String(e.port)}` : undefined);
        if (to === 'serving') return this.#step(app, e, at, 'ready', true);
        if (to === 'failed' || to === 'timed_out') return this.#step(app, e, at, 'ready', false, to);
        if (to === 'stopped' || to === 'killed') return this.#step(app, e, at, 'stop', to === 'stopped', to === 'killed' ? 'SIGKILL after stop_timeout' : undefined);
        return;
      }
      case 'switched':
        return this.#step(app, e, at, 'switch', true, `${(e.from as string[] | undefined)?.join(', ') || '—'} → ${(e.to as string[] | undefined)?.join(', ') || '—'}`);
      case 'draining': {
        // The drain step counts from here: what came between the switch and now is not the drain's.
        const open = this.#open.get(app);
        if (open) open.lastAt = at;
        return;
      }
      case 'drained': {
        const left = Number(e.open ?? 0);
        return this.#step(app, e, at, 'drain', e.drained !== false, e.drained === false ? `drain_timeout passed with ${left} open` : undefined, typeof e.elapsedMs === 'number' ? e.elapsedMs : undefined);
      }
      case 'restart_succeeded': {
        const open = this.#open.get(app);
        if (open) this.#end(open.record, at, 'succeeded', null, typeof e.durationMs === 'number' ? e.durationMs : undefined);
        return;
      }
      case 'restart_failed': {
        const open = this.#open.get(app);
        if (open) this.#end(open.record, at, 'failed', errorOf(e.error));
        return;
      }
      case 'app_removed':
        this.#open.delete(app);
        this.#byApp.delete(app);
        return;
      default:
        return;
    }
  }

  /** Stop following the events. */
  close(): void {
    this.#off();
  }

  #step(app: string, e: GvEvent, at: number, step: RestartStep['step'], ok: boolean, detail?: string, ms?: number): void {
    const open = this.#open.get(app);
    if (!open || open.record.steps.length >= MAX_STEPS) return;
    open.record.steps.push({ step, instance: e.instance, at: e.at, ms: ms ?? Math.max(0, at - open.lastAt), ok, ...(detail !== undefined && { detail }) });
    open.lastAt = at;
    this.#onChange(open.record);
  }

  #end(record: RestartRecord, at: number, result: RestartRecord['result'], error: RestartRecord['error'], durationMs?: number): void {
    record.result = result;
    record.error = error;
    record.endedAt = new Date(at).toISOString();
    record.durationMs = durationMs ?? Math.max(0, at - Date.parse(record.startedAt));
    this.#open.delete(record.app);
    this.#onChange(record);
  }
}
