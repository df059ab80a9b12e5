/**
 * The metrics listener (`metrics.listen`): `GET /metrics` for Prometheus scrapers on an address of
 * its own, so a scraper needs neither the control socket nor the control token. A token is asked
 * only when `metrics.token` is set. Everything else is 404; nothing here changes anything.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, ListenOptions } from 'node:net';
import { GvError } from '../errors.js';
import type { Metrics } from '../observe/metrics.js';
import { NO_KEEPER, tcpKey, type Keeper } from '../supervisor/handover.js';
import { bearerToken, tokensEqual } from './token.js';

/** One listener serving `metrics`. */
export class MetricsListener {
  readonly #server: Server;
  readonly #addr: { host: string; port: number };
  readonly #keeper: Keeper;

  /** `keeper` keeps the listener across daemons (an upgrade takes it over instead of binding). */
  constructor(metrics: Metrics, addr: { host: string; port: number }, token: string | null, keeper: Keeper = NO_KEEPER) {
    this.#addr = addr;
    this.#keeper = keeper;
    this.#server = createServer((req, res) => {
      res.on('error', () => {});
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' || (path !== '/metrics' && path !== '/metrics/')) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: GET /metrics\n');
        return;
      }
      if (token !== null) {
        const presented = bearerToken(req.headers.authorization);
        if (presented === null || !tokensEqual(presented, token)) {
          res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer' }).end('this listener needs metrics.token: Authorization: Bearer <token>\n');
          return;
        }
      }
      metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text);
      }, () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics failed\n');
      });
    });
    this.#server.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Bind; rejects with GV_ERR_CONTROL_LISTEN. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new GvError('GV_ERR_CONTROL_LISTEN', `cannot listen for metrics on ${this.#addr.host}:${this.#addr.port}: ${err.message}`, { cause: err }));
      this.#server.once('error', onError);
      const key = tcpKey(this.#addr.host, this.#addr.port);
      const ready = (): void => {
        this.#server.off('error', onError);
        this.#server.on('error', () => {});
        const h = (this.#server as unknown as { _handle?: object | null })._handle;
        if (h) this.#keeper.hold(key, h);
        resolve();
      };
      const inherited = this.#keeper.take(key);
      if (inherited) this.#server.listen(inherited as ListenOptions, ready);
      else this.#server.listen(this.#addr.port, this.#addr.host, ready);
    });
  }

  /** The address bound (port 0 picks one). */
  address(): { host: string; port: number } {
    const a = this.#server.address() as AddressInfo | null;
    return a ? { host: a.address, port: a.port } : this.#addr;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
