// The dashboard server's bounds and refusals, in process: a WebServer on 127.0.0.1 port 0 in front of
// the FakeApi (no processes). What a browser does is in dashboard.test.ts; this is what one would
// not do: oversized bodies, token guessing, too many streams, another origin, a failing API call.
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { LoginThrottle, Sessions } from '../../../src/control/web/auth.js';
import { LiveStreams, StreamSlots } from '../../../src/control/web/live.js';
import { MAX_BODY, WebServer, type WebContext } from '../../../src/control/web/server.js';
import type { GvEvent } from '../../../src/observe/index.js';
import { FakeApi } from '../fake-api.js';

const TOKEN = 'right-token';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const noEvents = { recent: (): GvEvent[] => [], subscribe: () => () => undefined };

/** A server for `t` on a free port, with `slots` streams at most. */
async function start(t: Tap.Test, api = new FakeApi(), slots = 2): Promise<{ base: string; port: number; ctx: WebContext }> {
  const ctx: WebContext = {
    api,
    token: TOKEN,
    tokenHint: 'in the test',
    secure: () => false,
    sessions: new Sessions(),
    throttle: new LoginThrottle({ max: 3 }),
    slots: new StreamSlots(slots),
    live: new LiveStreams({ api, events: noEvents, restarts: () => ({}) }),
    assets: new Map(),
    assetsDir: '/nonexistent',
    restarts: () => [],
    appConfig: () => null,
    plugins: () => [],
    configCheck: () => ({ file: '/x', loadedAt: new Date(0).toISOString(), apps: 2, reloads: [] }) as unknown as ReturnType<WebContext['configCheck']>,
    log: quiet as unknown as WebContext['log'],
  };
  const s = new WebServer(ctx);
  await s.listen('127.0.0.1', 0);
  t.teardown(() => s.close());
  const { port } = s.address()!;
  return { base: `http://127.0.0.1:${port}`, port, ctx };
}

/** One request on a fresh connection; resolves with status, headers and body. */
function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Log in with the token; returns the Cookie header value and the CSRF token. */
async function login(port: number): Promise<{ cookie: string; csrf: string }> {
  const r = await send(port, 'GET', `/?token=${TOKEN}`);
  const cookie = String(r.headers['set-cookie']).split(';')[0]!;
  const s = await send(port, 'GET', '/api/session', { cookie });
  return { cookie, csrf: JSON.parse(s.body).csrf };
}

t.test(`a body over ${MAX_BODY} bytes is refused before it is read, and logs nobody in`, async (t) => {
  const { port } = await start(t);
  const r = await send(port, 'POST', '/login', { 'content-type': 'application/x-www-form-urlencoded' }, `token=${TOKEN}&pad=${'x'.repeat(MAX_BODY)}`);
  t.equal(r.status, 400);
  t.equal(JSON.parse(r.body).error.code, 'GV_ERR_CONTROL_BAD_REQUEST');
  t.notOk(r.headers['set-cookie'], 'no session');
  const small = await send(port, 'POST', '/login', { 'content-type': 'application/x-www-form-urlencoded' }, `token=${TOKEN}`);
  t.equal(small.status, 303, 'the same login within the bound works');
});

t.test('past the wrong-token bound even the right token is refused (429) until the window ends', async (t) => {
  const { port } = await start(t);
  for (let i = 0; i < 2; i++) t.equal((await send(port, 'GET', `/?token=wrong${i}`)).status, 401, `wrong token ${i + 1}: 401`);
  t.equal((await send(port, 'GET', '/?token=wrong2')).status, 429, 'the one that reaches the bound (3): 429');
  const r = await send(port, 'GET', `/?token=${TOKEN}`);
  t.equal(r.status, 429, 'the right token now: 429');
  t.notOk(r.headers['set-cookie'], 'and no session');
});

t.test('live streams past the cap get 503 GV_ERR_WEB_BUSY, and a closed one frees its slot', async (t) => {
  const { port } = await start(t, new FakeApi(), 2);
  const { cookie } = await login(port);
  const open: { destroy(): void }[] = [];
  const openStream = (): Promise<number> => new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/api/live', headers: { cookie }, agent: false }, (res) => {
      open.push(res);
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });
  t.teardown(() => open.forEach((r) => r.destroy()));
  t.equal(await openStream(), 200, 'the first stream');
  t.equal(await openStream(), 200, 'the second');
  const third = await send(port, 'GET', '/api/live', { cookie });
  t.equal(third.status, 503, 'the third: 503');
  t.equal(JSON.parse(third.body).error.code, 'GV_ERR_WEB_BUSY');
  open.shift()!.destroy();
  let status = 0;
  for (let i = 0; i < 200 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 20));
    status = await openStream();
    if (status !== 200) open.pop()?.destroy();
  }
  t.equal(status, 200, 'a slot freed by a closed stream is taken again');
});

t.test('a POST from another origin is refused even with the session and its CSRF token', async (t) => {
  const api = new FakeApi();
  const { port } = await start(t, api);
  const { cookie, csrf } = await login(port);
  const r = await send(port, 'POST', '/api/apps/web/stop', { cookie, 'x-csrf-token': csrf, origin: 'http://evil.example' });
  t.equal(r.status, 403);
  t.equal(JSON.parse(r.body).error.code, 'GV_ERR_WEB_CSRF');
  t.notOk(api.calls.includes('stop web'), 'nothing was stopped');
  const ok = await send(port, 'POST', '/api/apps/web/stop', { cookie, 'x-csrf-token': csrf });
  t.equal(ok.status, 200, 'the same request from no other origin is done');
  t.ok(api.calls.includes('stop web'));
});

t.test('an API call that throws answers 500 and the server keeps serving', async (t) => {
  const api = new FakeApi();
  const { port } = await start(t, api);
  const { cookie, csrf } = await login(port);
  api.restartApp = async () => {
    throw new Error('boom');
  };
  const r = await send(port, 'POST', '/api/apps/web/restart', { cookie, 'x-csrf-token': csrf });
  t.equal(r.status, 500);
  t.equal(JSON.parse(r.body).error.code, 'GV_ERR_INTERNAL');
  t.equal((await send(port, 'GET', '/api/session', { cookie })).status, 200, 'the next request is answered');
});

t.test('without the bundle the page says it is not built (503), still behind the login', async (t) => {
  const { port } = await start(t);
  t.equal((await send(port, 'GET', '/')).status, 401, 'no session: 401');
  const { cookie } = await login(port);
  const r = await send(port, 'GET', '/', { cookie });
  t.equal(r.status, 503);
  t.match(r.body, /npm run build/);
});

t.test('sessions end at their lifetime, and the oldest goes when there are too many', async (t) => {
  let now = 1_000;
  const s = new Sessions({ ttlMs: 100, max: 2, now: () => now });
  const a = s.create();
  t.ok(s.get(a.id), 'a session is found by its id');
  now += 100;
  t.equal(s.get(a.id), null, 'gone at its lifetime');
  const b = s.create();
  const c = s.create();
  const d = s.create();
  t.equal(s.get(b.id), null, 'the oldest went to make room');
  t.ok(s.get(c.id) && s.get(d.id), 'the newer two are kept');
  t.notOk(Sessions.csrfMatches(c.session, d.session.csrf), "another session's CSRF token does not match");
  t.ok(Sessions.csrfMatches(c.session, c.session.csrf));
});
