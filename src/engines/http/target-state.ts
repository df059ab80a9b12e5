/**
 * What the http engine keeps per target: the pool of keep-alive upstream connections (an undici
 * `Pool`, made on first use and closed by drain) and the work in flight — dispatched requests, and
 * upgraded sockets, which count until both of their sides are closed.
 */
import type { Duplex } from 'node:stream';
import { Client, Pool } from 'undici';
import type { Target } from '../../plugins/engine.js';
import { TargetState } from '../targets.js';

/** Connections one target's pool may open. Far above what an app instance needs, but bounded. */
const MAX_UPSTREAM_CONNECTIONS = 512;

/** The timers of an upstream pool (`upstream_timeout`, `upstream_idle_timeout`). */
export interface PoolTimeouts {
  upstreamTimeoutMs: number;
  upstreamIdleMs: number;
}

/** One target of the http engine. */
export class HttpTargetState extends TargetState {
  pool: Pool | null = null;
  /** Requests dispatched and not finished; upgraded sockets are counted in `upgrades`. */
  inFlight = 0;
  readonly upgrades = new Set<Duplex>();
  readonly #timeouts: PoolTimeouts;

  constructor(target: Target, timeouts: PoolTimeouts) {
    super(target);
    this.#timeouts = timeouts;
  }

  /** The pool for new work, made on first use and after a drain closed the previous one. */
  getPool(): Pool {
    if (this.pool === null) {
      this.pool = new Pool(`http://${hostForUrl(this.target.host)}:${this.target.port}`, {
        connections: MAX_UPSTREAM_CONNECTIONS,
        pipelining: 1,
        // Close idle connections before the app does (its Keep-Alive header may shorten this, never
        // lengthen it), so a request is never written onto a connection the app is closing.
        keepAliveTimeout: this.#timeouts.upstreamIdleMs,
        keepAliveMaxTimeout: this.#timeouts.upstreamIdleMs,
        // The time from the request to its response head: past it, 504.
        headersTimeout: this.#timeouts.upstreamTimeoutMs,
        // A response body may take as long as it takes (a download, a stream of events).
        bodyTimeout: 0,
      });
    }
    return this.pool;
  }

  /** A connection of its own for one retry (never one the pool had kept idle); closed by its user. */
  freshClient(): Client {
    return new Client(`http://${hostForUrl(this.target.host)}:${this.target.port}`, {
      pipelining: 1,
      keepAliveTimeout: this.#timeouts.upstreamIdleMs,
      headersTimeout: this.#timeouts.upstreamTimeoutMs,
      bodyTimeout: 0,
    });
  }

  /** Stop reusing idle keep-alive connections: close the pool (busy connections close as their request ends). */
  closePool(): void {
    const pool = this.pool;
    this.pool = null;
    if (pool) pool.close().catch(() => {});
  }

  override open(): number {
    return this.inFlight + this.upgrades.size;
  }

  /** Idle once nothing is in flight and no pool holds connections. */
  override idle(): boolean {
    return this.open() === 0 && this.pool === null;
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
