/**
 * What keeps an open dashboard page live: one server-sent-events stream per page (`GET /api/live`)
 * carrying the events as they happen, the restart timelines as they change, and once a second a
 * status snapshot with the requests per second and error rate of each app.
 *
 * The snapshot is taken once a second only while at least one page is open, and once for all of them:
 * `status()` reads /proc, and nobody looking means the daemon does no work for the dashboard. The
 * rates are kept for the last {@link HISTORY_POINTS} samples (5 minutes), so a page opened or
 * reloaded while another is open, or within a few minutes of one, gets the recent past at once.
 *
 * Every stream is bounded: a page that reads too slowly skips snapshots (they are replaced by the
 * next one anyway), and one that falls more than {@link MAX_BUFFERED} bytes behind is cut off (its
 * EventSource reconnects and starts afresh); the number of streams is capped by {@link StreamSlots}.
 */
import type { ServerResponse } from 'node:http';
import type { AppStatus, SupervisorApi } from '../../supervisor/api.js';
import type { EventFeed, RestartRecord } from './restarts.js';

/** Rate samples kept per app (one a second: 5 minutes). */
export const HISTORY_POINTS = 300;
/** Bytes a stream may have waiting in its socket before it is cut off. */
export const MAX_BUFFERED = 1024 * 1024;
/** Events sent in the first message of a stream. */
const RECENT_EVENTS = 200;

/** One app's rates: time (ms since epoch), requests per second, errors as a % of requests (null: no sample). */
export interface Series {
  t: number[];
  rps: (number | null)[];
  err: (number | null)[];
}

/** A cap on the streams (live pages and log tails) open at once; each holds a slot while open. */
export class StreamSlots {
  readonly max: number;
  #used = 0;

  constructor(max: number) {
    this.max = max;
  }

  get used(): number {
    return this.#used;
  }

  /** Take a slot; false when none is free. */
  take(): boolean {
    if (this.#used >= this.max) return false;
    this.#used++;
    return true;
  }

  release(): void {
    this.#used = Math.max(0, this.#used - 1);
  }
}

/** Start a server-sent-events answer (the head goes out now, so the client knows it is connected). */
export function startEventStream(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  // A reconnecting EventSource waits this long (ms) first.
  res.write('retry: 2000\n\n');
}

/** Write one SSE message; false when the socket is over its bound (the caller cuts the stream). */
export function sendEvent(res: ServerResponse, event: string, data: unknown): boolean {
  if (res.destroyed || res.writableEnded) return false;
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  return res.writableLength <= MAX_BUFFERED;
}

/** The errors an app's engine counted: 5xx responses (http), else the work it refused or failed. */
function errorCount(a: AppStatus): number {
  return a.stats.http ? a.stats.http.responses['5xx'] : a.stats.errors;
}

/** The live streams of one dashboard and the sampler feeding them. */
export class LiveStreams {
  readonly #api: SupervisorApi;
  readonly #restarts: () => Record<string, RestartRecord[]>;
  readonly #events: EventFeed;
  readonly #sampleMs: number;
  readonly #clients = new Set<ServerResponse>();
  readonly #series = new Map<string, Series>();
  /** The counters at the previous sample, per app. */
  readonly #last = new Map<string, { at: number; requests: number; errors: number }>();
  #timer: NodeJS.Timeout | null = null;
  #offEvents: (() => void) | null = null;

  constructor(opts: { api: SupervisorApi; events: EventFeed; restarts: () => Record<string, RestartRecord[]>; sampleMs?: number }) {
    this.#api = opts.api;
    this.#events = opts.events;
    this.#restarts = opts.restarts;
    this.#sampleMs = opts.sampleMs ?? 1000;
  }

  /** Streams open now. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Serve one page's stream on `res` until it closes (or {@link close}): first `hello` (status,
   * the kept rates, every restart timeline, the recent events), then `event`, `restart` and `tick`
   * messages. The caller holds a {@link StreamSlots} slot for it and releases it on `res` close.
   */
  open(res: ServerResponse): void {
    startEventStream(res);
    const apps = this.#api.status();
    const hello = {
      at: Date.now(),
      sampleMs: this.#sampleMs,
      apps,
      series: Object.fromEntries(apps.map((a) => [a.name, this.#series.get(a.name) ?? { t: [], rps: [], err: [] }])),
      restarts: this.#restarts(),
      events: this.#events.recent({ limit: RECENT_EVENTS }),
    };
    if (!sendEvent(res, 'hello', hello)) {
      res.destroy();
      return;
    }
    this.#clients.add(res);
    res.once('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stop();
    });
    this.#start();
  }

  /** A restart timeline changed: every page hears it. */
  restartChanged(r: RestartRecord): void {
    this.#broadcast('restart', r, false);
  }

  /** End every stream and stop sampling (the dashboard closes). */
  close(): void {
    this.#stop();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }

  /** Take one sample now (the timer calls this; tests too). */
  sample(now = Date.now()): void {
    const apps = this.#api.status();
    const points: Record<string, [number, number | null, number | null]> = {};
    const names = new Set<string>();
    for (const a of apps) {
      names.add(a.name);
      const requests = a.stats.requests;
      const errors = errorCount(a);
      const prev = this.#last.get(a.name);
      this.#last.set(a.name, { at: now, requests, errors });
      let rps: number | null = null;
      let err: number | null = null;
      // A rate needs the sample just before (not one from before a pause in sampling) and counters
      // that did not start again (a reload that made a new engine).
      if (prev && now - prev.at <= 3 * this.#sampleMs && requests >= prev.requests && errors >= prev.errors) {
        const dt = (now - prev.at) / 1000;
        const dr = requests - prev.requests;
        rps = Math.round((dr / dt) * 10) / 10;
        err = dr > 0 ? Math.round(((errors - prev.errors) / dr) * 1000) / 10 : 0;
      }
      const s = this.#series.get(a.name) ?? { t: [], rps: [], err: [] };
      s.t.push(now);
      s.rps.push(rps);
      s.err.push(err);
      if (s.t.length > HISTORY_POINTS) {
        s.t.shift();
        s.rps.shift();
        s.err.shift();
      }
      this.#series.set(a.name, s);
      points[a.name] = [now, rps, err];
    }
    for (const name of [...this.#series.keys()]) {
      if (!names.has(name)) {
        this.#series.delete(name);
        this.#last.delete(name);
      }
    }
    this.#broadcast('tick', { at: now, apps, points }, true);
  }

  #start(): void {
    if (this.#timer) return;
    this.#offEvents = this.#events.subscribe((e) => this.#broadcast('event', e, false));
    this.#timer = setInterval(() => {
      try {
        this.sample();
      } catch {
        // A status that cannot be read this second is skipped; the next tick tries again.
      }
    }, this.#sampleMs);
    this.#timer.unref();
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#offEvents?.();
    this.#offEvents = null;
  }

  /** Send to every stream; `skippable` messages skip a stream that has not drained its last ones. */
  #broadcast(event: string, data: unknown, skippable: boolean): void {
    if (this.#clients.size === 0) return;
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.#clients) {
      if (skippable && res.writableNeedDrain) continue;
      res.write(text);
      if (res.writableLength > MAX_BUFFERED) res.destroy();
    }
  }
}
