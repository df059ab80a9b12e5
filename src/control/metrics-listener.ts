/**
 * The metrics listener (`metrics.listen`): `GET /metrics` for Prometheus scrapers on an address of
 * its own, so a scraper needs neither the control socket nor the control token. A token is asked
 * only when `metrics.token` is set. Everything else is 404; nothing here changes anything.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GvError } from '../errors.js';
import type { Metrics } from '../observe/metrics.js';
import { bearerToken, tokensEqual } from './token.js';

/** One listener serving `metrics`. */
export class MetricsListener {
  readonly #server: Server;
  readonly #addr: { host: string; port: number };

  constructor(metrics: Metrics, addr: { host: string; port: number }, token: string | null) {
    this.#addr = addr;
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
      this.#server.listen(this.#addr.port, this.#addr.host, () => {
        this.#server.off('error', onError);
        this.#server.on('error', () => {});
        resolve();
      });
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
