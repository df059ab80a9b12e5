/**
 * The port pool of one supervisor: hands out internal ports from `port_range`, each checked free by
 * binding it before use, and takes them back when their instance is gone. Allocation walks the range
 * round-robin from where it last stopped, so a port just released is the last one handed out again
 * (late packets or TIME_WAIT of the old instance never meet the new one).
 */
import { createServer } from 'node:net';
import { GvError } from '../errors.js';

/** Internal ports for instances, from one range. */
export class PortPool {
  readonly #from: number;
  readonly #to: number;
  readonly #used = new Set<number>();
  #next: number;

  /** `from`..`to` inclusive. */
  constructor(range: { from: number; to: number }) {
    if (!Number.isInteger(range.from) || !Number.isInteger(range.to) || range.from < 1 || range.to > 65535 || range.from > range.to) {
      throw new GvError('GV_ERR_CONFIG_RANGE', `port_range ${range.from}..${range.to} is not a valid range`);
    }
    this.#from = range.from;
    this.#to = range.to;
    this.#next = range.from;
  }

  /** Ports handed out and not yet released. */
  get inUse(): number[] {
    return [...this.#used].sort((a, b) => a - b);
  }

  /**
   * A port no instance of this pool holds and that binds on `host` right now; marked used until
   * {@link release}. Rejects with GV_ERR_PORT_EXHAUSTED when every port of the range is taken.
   */
  async allocate(host: string): Promise<number> {
    const size = this.#to - this.#from + 1;
    for (let i = 0; i < size; i++) {
      const port = this.#next;
      this.#next = port === this.#to ? this.#from : port + 1;
      if (this.#used.has(port)) continue;
      // Reserve before the async bind check so two concurrent allocations never pick the same port.
      this.#used.add(port);
      if (await canBindAll(host, port)) return port;
      this.#used.delete(port);
    }
    throw new GvError('GV_ERR_PORT_EXHAUSTED', `no free port left in port_range ${this.#from}..${this.#to} on ${host}`, {
      details: { from: this.#from, to: this.#to, inUse: this.#used.size },
    });
  }

  /** Mark `port` used by an instance this pool did not hand out (one adopted from a previous daemon). */
  claim(port: number): void {
    this.#used.add(port);
  }

  /** Give `port` back; releasing a port not held is a no-op. */
  release(port: number): void {
    this.#used.delete(port);
  }
}

/**
 * `localhost` may resolve to ::1 for our check and to 127.0.0.1 for the app (or the other way round):
 * for it, both loopback addresses must be free.
 */
async function canBindAll(host: string, port: number): Promise<boolean> {
  if (host !== 'localhost') return canBind(host, port);
  return (await canBind('127.0.0.1', port)) && (await canBindOptional('::1', port));
}

/** Like {@link canBind}, but a host without IPv6 counts as free. */
function canBindOptional(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT'));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** True when a listener can bind host:port right now (then it is closed again). */
export function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
