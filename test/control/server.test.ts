import t from 'tap';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, mkdtemp, rename, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlServer } from '../../src/control/server.js';
import { ControlClient } from '../../src/control/client.js';
import { GvConfigError, GvError } from '../../src/errors.js';
import { FakeApi, twoProblemConfigError } from './fake-api.js';
import { killOnTeardown } from '../helpers/processes.js';
import { within } from '../helpers/wait.js';

t.beforeEach((t) => t.setTimeout(60_000));

async function tempDir(t: Tap.Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gv-ctl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startServer(t: Tap.Test, opts: { token?: string } = {}) {
  const dir = await tempDir(t);
  const api = new FakeApi(dir);
  const socket = join(dir, 'run', 'control.sock');
  const server = new ControlServer({ api, socket, followIntervalMs: 20, ...(opts.token && { tcp: { host: '127.0.0.1', port: 0, token: opts.token } }) });
  await server.listen();
  t.teardown(() => server.close());
  return { dir, api, socket, server, client: new ControlClient({ socket }) };
}

/** A raw request, for what the real client never sends (bad JSON, bad tokens). */
function raw(where: { socketPath: string } | { host: string; port: number }, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...where, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: any = null;
        try { json = JSON.parse(text); } catch { /* not json */ }
        resolve({ status: res.statusCode!, json, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function expectCode(t: Tap.Test, p: Promise<unknown>, code: string): Promise<GvError> {
  try {
    await p;
  } catch (err) {
    t.equal((err as GvError).code, code, `fails with ${code}`);
    return err as GvError;
  }
  t.fail(`expected ${code}, got success`);
  return new GvError('GV_ERR_INTERNAL', 'unreachable');
}

t.test('the unix socket is created with mode 0600 and answers status', async (t) => {
  const { socket, client } = await startServer(t);
  const st = await stat(socket);
  t.ok(st.isSocket());
  t.equal(st.mode & 0o777, 0o600);
  const apps = await client.status();
  t.same(apps.map((a) => a.name), ['web', 'worker']);
  t.equal((await client.status('worker'))[0]!.name, 'worker');
  t.equal((await client.version()).pid, process.pid);
});

t.test('every app command reaches the supervisor api and returns its result', async (t) => {
  const { api, client } = await startServer(t);
  t.equal((await client.stop('web')).state, 'stopped');
  t.equal((await client.start('web')).state, 'running');
  t.equal((await client.kill('web')).state, 'stopped');
  t.same((await client.restart('web')).serving, ['web#2']);
  t.equal((await client.restartAll()).length, 2);
  t.same(await client.reload(), { added: [], removed: [], changed: ['web'], unchanged: ['worker'] });
  t.equal((await client.add('/etc/gracevisor/apps.d/web.yaml')).name, 'web');
  t.equal(await client.remove('worker'), 'worker');
  t.same((await client.plugins()).map((p) => p.id), ['engines.http', 'engines.splice']);
  t.same(api.calls.filter((c) => !c.startsWith('status')), ['stop web', 'start web', 'kill web', 'restart web', 'restartAll', 'reload', 'add /etc/gracevisor/apps.d/web.yaml', 'remove worker']);
});

t.test('an unknown app is a 404 with GV_ERR_APP_NOT_FOUND on every app route', async (t) => {
  const { socket, client } = await startServer(t);
  await expectCode(t, client.status('nope'), 'GV_ERR_APP_NOT_FOUND');
  await expectCode(t, client.restart('nope'), 'GV_ERR_APP_NOT_FOUND');
  await expectCode(t, client.stop('nope'), 'GV_ERR_APP_NOT_FOUND');
  await expectCode(t, client.remove('nope'), 'GV_ERR_APP_NOT_FOUND');
  await expectCode(t, client.logs('nope'), 'GV_ERR_APP_NOT_FOUND');
  const res = await raw({ socketPath: socket }, 'POST', '/v1/apps/nope/kill');
  t.equal(res.status, 404);
  t.equal(res.json.error.code, 'GV_ERR_APP_NOT_FOUND');
});

t.test('malformed requests get 400 or 404 with a GV_ERR code and never reach the supervisor', async (t) => {
  const { socket, api } = await startServer(t);
  const where = { socketPath: socket };
  const cases: Array<[string, string, string | undefined, number, string]> = [
    ['POST', '/v1/reload', '{not json', 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['POST', '/v1/reload', '[1,2]', 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['POST', '/v1/reload', '{"force":true}', 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['POST', '/v1/apps', '{}', 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['POST', '/v1/apps', '{"file":42}', 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['POST', '/v1/apps', '{"file":"relative/app.yaml"}', 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['GET', '/v1/status?verbose=1', undefined, 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['GET', '/v1/apps/web/logs?n=-3', undefined, 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['GET', '/v1/apps/web/logs?n=abc', undefined, 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['GET', '/v1/apps/web/logs?stream=all', undefined, 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['GET', '/v1/apps/web/logs?follow=maybe', undefined, 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['GET', '/v1/apps/web/restart', undefined, 404, 'GV_ERR_CONTROL_NOT_FOUND'],
    ['PUT', '/v1/status', undefined, 404, 'GV_ERR_CONTROL_NOT_FOUND'],
    ['POST', '/v1/apps/%E0%A4%A/restart', undefined, 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
    ['GET', '/v2/status', undefined, 404, 'GV_ERR_CONTROL_NOT_FOUND'],
    ['GET', '/v1/frobnicate', undefined, 404, 'GV_ERR_CONTROL_NOT_FOUND'],
    ['DELETE', '/v1/reload', undefined, 404, 'GV_ERR_CONTROL_NOT_FOUND'],
    ['POST', '/v1/apps', 'x'.repeat(70_000), 400, 'GV_ERR_CONTROL_BAD_REQUEST'],
  ];
  for (const [method, path, body, status, code] of cases) {
    const res = await raw(where, method, path, body);
    t.equal(res.status, status, `${method} ${path.slice(0, 40)} -> ${status}`);
    t.equal(res.json?.error?.code, code, `${method} ${path.slice(0, 40)} -> ${code}`);
  }
  t.same(api.calls.filter((c) => !c.startsWith('status')), [], 'nothing was changed');
  // Garbage that is not HTTP at all: the server answers 400 and keeps serving.
  await new Promise<void>((resolve) => {
    const s = connect({ path: socket }, () => s.end('\x00\x01 not http\r\n\r\n'));
    s.on('data', () => undefined);
    s.on('close', () => resolve());
  });
  t.equal((await raw(where, 'GET', '/v1/status')).status, 200, 'still serving after garbage');
});

t.test('a config error on reload or add is a 422 carrying every problem with its code and position', async (t) => {
  const { api, socket, client } = await startServer(t);
  api.reloadError = twoProblemConfigError('/etc/gracevisor/gracevisor.yaml');
  const res = await raw({ socketPath: socket }, 'POST', '/v1/reload');
  t.equal(res.status, 422);
  t.same(res.json.error.errors.map((e: any) => [e.code, e.pos.line, e.pos.col]), [['GV_ERR_CONFIG_UNKNOWN_KEY', 3, 5], ['GV_ERR_CONFIG_REQUIRED', 2, 3]]);
  const err = await expectCode(t, client.reload(), 'GV_ERR_CONFIG_UNKNOWN_KEY');
  t.ok(err instanceof GvConfigError);
  t.same((err as GvConfigError).errors.map((e) => e.format()), [
    '/etc/gracevisor/gracevisor.yaml:3:5: GV_ERR_CONFIG_UNKNOWN_KEY: unknown key "comand"',
    '/etc/gracevisor/gracevisor.yaml:2:3: GV_ERR_CONFIG_REQUIRED: app needs a command',
  ]);
  await expectCode(t, client.add('/tmp/x.yaml'), 'GV_ERR_CONFIG_UNKNOWN_KEY');
});

t.test('on TCP a missing or wrong token gets 401 and changes nothing', async (t) => {
  const { server, api } = await startServer(t, { token: 's3cret-token' });
  const addr = server.tcpAddress()!;
  t.ok(addr.port > 0);
  const where = { host: '127.0.0.1', port: addr.port };
  for (const auth of [undefined, 'Bearer wrong', 'Basic czNjcmV0LXRva2Vu', 'Bearer s3cret-token-and-more', 'Bearer']) {
    const res = await raw(where, 'POST', '/v1/apps/web/restart', undefined, auth ? { authorization: auth } : {});
    t.equal(res.status, 401, `${auth ?? 'no header'} -> 401`);
    t.equal(res.json.error.code, 'GV_ERR_CONTROL_UNAUTHORIZED');
  }
  const unknownRoute = await raw(where, 'GET', '/v1/nothing-here');
  t.equal(unknownRoute.status, 401, 'routes are not revealed without the token');
  t.same(api.calls, [], 'the supervisor was never called');
  await expectCode(t, new ControlClient({ ...where, token: 'wrong' }).restart('web'), 'GV_ERR_CONTROL_UNAUTHORIZED');
  const good = new ControlClient({ ...where, token: 's3cret-token' });
  t.same((await good.restart('web')).serving, ['web#2']);
  t.same(api.calls, ['restart web']);
});

t.test('a stale socket file is replaced, a live one or a non-socket file refuses to start', async (t) => {
  const dir = await tempDir(t);
  // A stale socket: bound once, then its server went away without unlinking it.
  const stale = join(dir, 'stale.sock');
  // A process that listens and is SIGKILLed leaves its socket file behind, as after a crash.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  killOnTeardown(t, child.pid!);
  await within(once(child.stdout!, 'data'), 10_000, 'the stale socket\'s server up');
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.ok((await stat(stale)).isSocket(), 'stale socket file exists');
  const a = new ControlServer({ api: new FakeApi(dir), socket: stale });
  await a.listen();
  t.teardown(() => a.close());
  t.equal((await new ControlClient({ socket: stale }).status()).length, 2, 'took over the stale path');

  const b = new ControlServer({ api: new FakeApi(dir), socket: stale });
  await expectCode(t, b.listen(), 'GV_ERR_CONTROL_LISTEN');
  t.equal((await new ControlClient({ socket: stale }).status()).length, 2, 'the first server still answers');

  const file = join(dir, 'not-a-socket');
  await writeFile(file, 'precious');
  const c = new ControlServer({ api: new FakeApi(dir), socket: file });
  await expectCode(t, c.listen(), 'GV_ERR_CONTROL_LISTEN');
  t.equal(await readFile(file, 'utf8'), 'precious', 'the file was left alone');
});

t.test('close removes the socket file and the client then reports the daemon unreachable', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'c.sock');
  const server = new ControlServer({ api: new FakeApi(dir), socket });
  await server.listen();
  await server.close();
  await t.rejects(stat(socket), { code: 'ENOENT' });
  const err = await expectCode(t, new ControlClient({ socket }).status(), 'GV_ERR_CONTROL_UNREACHABLE');
  t.match(err.message, socket, 'the message names the socket it tried');
  await expectCode(t, new ControlClient({ host: '127.0.0.1', port: 1, token: null }).status(), 'GV_ERR_CONTROL_UNREACHABLE');
});

/** Collects a stream's text; `until` waits (bounded) for a piece to show up without consuming the stream. */
function collector(stream: NodeJS.ReadableStream) {
  let text = '';
  let ended = false;
  const waiters = new Set<() => void>();
  stream.on('data', (c) => { text += c.toString(); for (const w of waiters) w(); });
  stream.on('close', () => { ended = true; for (const w of waiters) w(); });
  return {
    get text() { return text; },
    until(want: string, ms = 10_000): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (text.includes(want)) { done(); resolve(text); } else if (ended) { done(); reject(new Error(`stream ended before ${JSON.stringify(want)}: ${JSON.stringify(text)}`)); }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${JSON.stringify(want)}: ${JSON.stringify(text)}`)); }, ms);
        const done = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
  };
}

t.test('logs returns the last n lines of the chosen stream, or of both merged in time order', async (t) => {
  const { dir, client } = await startServer(t);
  await writeFile(join(dir, 'web.out.log'), Array.from({ length: 50 }, (_, i) => `line ${i + 1}`).join('\n') + '\n');
  await writeFile(join(dir, 'web.err.log'), 'oops 1\noops 2');
  const read = async (s: NodeJS.ReadableStream) => { let x = ''; for await (const c of s) x += c; return x; };
  t.equal(await read(await client.logs('web', { stream: 'stdout', n: 3 })), 'line 48\nline 49\nline 50\n');
  t.equal(await read(await client.logs('web', { stream: 'stdout', n: 0 })), '');
  t.equal(await read(await client.logs('web', { stream: 'stdout', n: 1000 })), Array.from({ length: 50 }, (_, i) => `line ${i + 1}`).join('\n') + '\n');
  t.equal(await read(await client.logs('web', { stream: 'stderr', n: 1 })), 'oops 2');
  t.equal(await read(await client.logs('worker', { n: 5 })), '', 'a log file not written yet is empty');
  // Prefixed lines (the default log_format) merge by their time; the last n of the merge are kept.
  await writeFile(join(dir, 'web.out.log'), '2026-01-01T00:00:01.000Z web#1 out a\n2026-01-01T00:00:03.000Z web#1 out c\n');
  await writeFile(join(dir, 'web.err.log'), '2026-01-01T00:00:02.000Z web#1 err b\n2026-01-01T00:00:04.000Z web#1 err d\n');
  t.equal(await read(await client.logs('web', { n: 3 })), '2026-01-01T00:00:02.000Z web#1 err b\n2026-01-01T00:00:03.000Z web#1 out c\n2026-01-01T00:00:04.000Z web#1 err d\n');
});

t.test('logs follow streams appended lines and survives rotation and truncation', async (t) => {
  const { dir, client, server } = await startServer(t);
  const file = join(dir, 'web.out.log');
  await writeFile(file, 'old 1\nold 2\n');
  const stream = await client.logs('web', { n: 1, follow: true });
  t.teardown(() => stream.destroy());
  const out = collector(stream);
  t.notMatch(await out.until('old 2\n'), 'old 1');
  await appendFile(file, 'new 3\n');
  await out.until('new 3\n');
  // Rotation: the file is renamed away and a new one takes its path.
  await appendFile(file, 'last words of the old file\n');
  await rename(file, file + '.1');
  await writeFile(file, 'fresh 1\n');
  await out.until('fresh 1\n');
  // Truncation in place (copytruncate-style rotation).
  await writeFile(file, 'short\n');
  await out.until('short\n');
  t.equal(out.text, 'old 2\nnew 3\nlast words of the old file\nfresh 1\nshort\n', 'every line once, in order');
  // Closing the server ends the stream.
  const ended = new Promise<void>((r) => stream.on('close', () => r()));
  await server.close();
  await ended;
});

t.test('a TCP port already taken fails listen with GV_ERR_CONTROL_LISTEN and leaves no socket behind', async (t) => {
  const dir = await tempDir(t);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as { port: number }).port;
  const socket = join(dir, 'tcp-taken.sock');
  const server = new ControlServer({ api: new FakeApi(dir), socket, tcp: { host: '127.0.0.1', port, token: 'x' } });
  await expectCode(t, server.listen(), 'GV_ERR_CONTROL_LISTEN');
  await t.rejects(stat(socket), { code: 'ENOENT' }, 'the unix socket was closed and removed again');
});

t.test('POST /v1/apps answers 201 Created', async (t) => {
  const { socket } = await startServer(t);
  const res = await raw({ socketPath: socket }, 'POST', '/v1/apps/', '{"file":"/etc/gracevisor/web.yaml"}');
  t.equal(res.status, 201);
  t.equal(res.json.app.name, 'web');
});

t.test('stopAccepting refuses new connections while a request in flight still gets its answer', async (t) => {
  const dir = await tempDir(t);
  const api = new FakeApi(dir);
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let entered!: () => void;
  const reached = new Promise<void>((r) => { entered = r; });
  api.restartApp = async (name: string) => {
    entered();
    await gate;
    return { app: name, ok: true, serving: [`${name}#9`], durationMs: 1, coalesced: false };
  };
  const socket = join(dir, 'stop.sock');
  const server = new ControlServer({ api, socket });
  await server.listen();
  t.teardown(() => server.close());
  const client = new ControlClient({ socket });
  const inFlight = client.restart('web');
  // In flight for real: the request has reached the supervisor api (not slept for).
  await within(reached, 10_000, 'the restart request reaching the api');
  server.stopAccepting();
  await expectCode(t, client.status(), 'GV_ERR_CONTROL_UNREACHABLE');
  const closing = server.close();
  release();
  t.same((await within(inFlight, 10_000, 'the answer in flight')).serving, ['web#9'], 'the request in flight was answered');
  await within(closing, 10_000, 'close()');
});
