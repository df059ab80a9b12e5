/**
 * What the http engine keeps per target: the pool of keep-alive upstream connections (an undici
 * `Pool`, made on first use and closed by drain) and the work in flight — dispatched requests, and
 * upgraded sockets, which count until both of their sides are closed.
 */
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import type { Target } from '../../plugins/engine.js';
import { TargetState } from '../targets.js';

/** Connections one target's pool may open. Far above what an app instance needs, but bounded. */
const MAX_UPSTREAM_CONNECTIONS = 512;

/** One target of the http engine. */
export class HttpTargetState extends TargetState {
  pool: Pool | null = null;
  /** Requests dispatched and not finished; upgraded sockets are counted in `upgrades`. */
  inFlight = 0;
  readonly upgrades = new Set<Duplex>();

  constructor(target: Target) {
    super(target);
  }

  /** The pool for new work, made on first use and after a drain closed the previous one. */
  getPool(): Pool {
    if (this.pool === null) {
      this.pool = new Pool(`http://${hostForUrl(this.target.host)}:${this.target.port}`, {
        connections: MAX_UPSTREAM_CONNECTIONS,
        pipelining: 1,
        // Hand sockets back to the app quickly when idle; the app's keep-alive header may shorten it.
        keepAliveTimeout: 4_000,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
    }
    return this.pool;
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
