/**
 * A load generator for tests: N clients, each on its own keep-alive connection (an http.Agent with
 * one socket), sending requests back to back. Bounded by a request count and a time limit.
 */
import { Agent, request } from 'node:http';

/** One request as the client saw it. */
export interface LoadSample {
  client: number;
  /** ms timestamps (Date.now()) when the request was sent and when it finished. */
  start: number;
  end: number;
  status: number | null;
  /** x-instance-pid of the response. */
  pid: number | null;
  error: string | null;
}

/** Options of {@link KeepAliveLoad}. */
export interface LoadOptions {
  host?: string;
  port: number;
  path?: string;
  clients: number;
  /** Stop each client after this many requests (default 100 000). */
  maxRequestsPerClient?: number;
  /** Stop after this long, ms (default 120 000). */
  maxMs?: number;
}

/** Keep-alive clients sending requests until stopped. */
export class KeepAliveLoad {
  readonly samples: LoadSample[] = [];
  readonly #opts: LoadOptions;
  readonly #agents: Agent[] = [];
  #running = false;
  #loops: Promise<void>[] = [];
  #deadline = 0;

  constructor(opts: LoadOptions) {
    this.#opts = opts;
  }

  /** Start every client. */
  start(): void {
    this.#running = true;
    this.#deadline = Date.now() + (this.#opts.maxMs ?? 120_000);
    for (let c = 0; c < this.#opts.clients; c++) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      this.#agents.push(agent);
      this.#loops.push(this.#loop(c, agent));
    }
  }

  /** Requests completed so far. */
  get count(): number {
    return this.samples.length;
  }

  /** Samples that failed (no response, or a status other than 200). */
  failures(): LoadSample[] {
    return this.samples.filter((s) => s.error !== null || s.status !== 200);
  }

  /** Stop every client after its current request; resolves with every sample. */
  async stop(): Promise<LoadSample[]> {
    this.#running = false;
    await Promise.all(this.#loops);
    for (const a of this.#agents) a.destroy();
    return this.samples;
  }

  async #loop(client: number, agent: Agent): Promise<void> {
    const max = this.#opts.maxRequestsPerClient ?? 100_000;
    for (let i = 0; i < max && this.#running && Date.now() < this.#deadline; i++) {
      this.samples.push(await once(client, agent, this.#opts));
    }
  }
}

/** One GET through `agent`. Never rejects. */
export function once(client: number, agent: Agent | undefined, opts: { host?: string; port: number; path?: string }): Promise<LoadSample> {
  const start = Date.now();
  return new Promise((resolve) => {
    const req = request({ host: opts.host ?? '127.0.0.1', port: opts.port, path: opts.path ?? '/', agent: agent ?? false }, (res) => {
      res.resume();
      res.on('end', () => {
        const pid = Number(res.headers['x-instance-pid']);
        resolve({ client, start, end: Date.now(), status: res.statusCode ?? null, pid: Number.isInteger(pid) ? pid : null, error: null });
      });
      res.on('error', (err) => resolve({ client, start, end: Date.now(), status: res.statusCode ?? null, pid: null, error: err.message }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (err) => resolve({ client, start, end: Date.now(), status: null, pid: null, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  });
}

/** GET `path` and return status, body and x-instance-pid (one fresh connection). */
export function get(port: number, path = '/', host = '127.0.0.1'): Promise<{ status: number; body: string; pid: number | null }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const pid = Number(res.headers['x-instance-pid']);
        resolve({ status: res.statusCode ?? 0, body, pid: Number.isInteger(pid) ? pid : null });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
