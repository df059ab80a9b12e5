// Real backends for the engine tests: small node:http / ws / net servers on 127.0.0.1 port 0,
// each answering with its own name so a test can tell which instance served a request.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Test } from 'tap';
import type { Engine, EngineOptions, Target } from '../../src/plugins/engine.js';
import { HttpEngine } from '../../src/engines/http/engine.js';
import { loadHttpAddon } from '../../src/engines/http-native/addon.js';
import { NativeHttpEngine } from '../../src/engines/http-native/engine.js';

/** A running http backend. */
export interface HttpBackend {
  name: string;
  target: Target;
  server: http.Server;
  /** Requests seen, with the headers they arrived with. */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  /** Resolvers for `/hold` requests: call one to answer it. */
  held: (() => void)[];
  /** Events a test wants ordered. */
  events: string[];
}

/**
 * An http backend named `name`: `/` answers its name, `/echo` echoes the body, `/headers` returns the
 * headers it got as JSON, `/slow?ms=N` answers after N ms, `/hold` answers when the test says so
 * (and records `hold-aborted` if the request is cut first), `/sink` reads the body and answers how
 * many bytes it had, `/source?bytes=N` streams N bytes.
 * WebSocket upgrades are accepted and echo `name:message`.
 */
export async function httpBackend(t: Test, name: string): Promise<HttpBackend> {
  const b: HttpBackend = { name, target: { id: name, host: '127.0.0.1', port: 0 }, server: undefined as unknown as http.Server, seen: [], held: [], events: [] };
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    b.seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/echo') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => { chunks.push(c); b.events.push('echo-data'); });
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-backend': name, 'content-length': body.length });
        res.end(body);
      });
      return;
    }
    if (url.pathname === '/sink') {
      let n = 0;
      req.on('data', (c: Buffer) => { n += c.length; });
      req.on('end', () => res.end(String(n)));
      return;
    }
    req.resume();
    if (url.pathname === '/source') {
      let left = Number(url.searchParams.get('bytes') ?? '0');
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
      const pump = (): void => {
        while (left > 0) {
          const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= part.length;
          if (!res.write(part)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/headers') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name, connection: 'keep-alive, x-hop', 'x-hop': 'secret' });
      res.end(JSON.stringify(req.headers));
      return;
    }
    if (url.pathname === '/slow') {
      const ms = Number(url.searchParams.get('ms') ?? '2000');
      b.events.push('slow-started');
      const timer = setTimeout(() => {
        b.events.push('slow-sent');
        res.end(name);
      }, ms);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    if (url.pathname === '/hold') {
      b.held.push(() => res.end(name));
      res.on('close', () => { if (!res.writableEnded) b.events.push('hold-aborted'); });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
    res.end(name);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws: WebSocket) => {
    b.events.push('ws-open');
    ws.on('message', (m) => ws.send(`${name}:${m.toString()}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  b.server = server;
  b.target.port = (server.address() as net.AddressInfo).port;
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return b;
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Engine options for a test: port 0 on loopback, log lines collected. */
export function engineOptions(overrides: Partial<EngineOptions> = {}): EngineOptions & { logs: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  return {
    app: 'test', host: '127.0.0.1', port: 0, queueTimeoutMs: 5_000,
    log: (level, msg, fields) => logs.push({ level, msg, ...(fields && { fields }) }),
    logs,
    ...overrides,
  };
}

/** Listen `engine` and close it at teardown. */
export async function started<E extends Engine>(t: Test, engine: E): Promise<E> {
  await engine.listen();
  t.teardown(() => engine.close(1_000));
  return engine;
}

/** One HTTP request through `agent` (or a fresh connection), body collected. */
export function get(port: number, path: string, opts: { agent?: http.Agent | false; method?: string; body?: Buffer | string; headers?: http.OutgoingHttpHeaders } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: opts.agent ?? false, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Resolve when `cond()` is true, polling; rejects after `ms` so a broken test fails instead of hanging. */
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Which http implementation the http engine tests run against: `GV_TEST_HTTP_IMPL=native` (the
 * native data plane; the *-native.test.ts files set it) or the JavaScript engine (default). Both
 * meet the same contract, so the same tests assert the same things of each.
 */
export function httpImpl(): 'native' | 'js' {
  return process.env.GV_TEST_HTTP_IMPL === 'native' ? 'native' : 'js';
}

/**
 * A new http engine of the implementation under test ({@link httpImpl}); fails the run if the native
 * one is asked for and missing. `GV_TEST_HTTP_ADDON` names another build of the addon (native/asan.sh:
 * the sanitizer build).
 */
export function newHttpEngine(opts: EngineOptions): Engine {
  if (httpImpl() === 'js') return new HttpEngine(opts);
  const loaded = loadHttpAddon(process.env.GV_TEST_HTTP_ADDON || undefined);
  if (!loaded.addon) throw new Error(`GV_TEST_HTTP_IMPL=native but the native http data plane is unavailable: ${loaded.reason}`);
  return new NativeHttpEngine(opts, loaded.addon);
}

/** Send raw bytes on a fresh connection and collect everything until the server closes or `ms` pass. */
export function raw(port: number, bytes: string, ms = 5_000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    s.on('data', (d) => (out += d.toString()));
    s.on('close', done);
    s.on('error', done);
    s.write(bytes);
  });
}
