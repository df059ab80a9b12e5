// Restarts through the real binaries: a restart whose new instance fails, a WebSocket app and a
// `proxy: splice` app across a restart.
import t from 'tap';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { WebSocket } from 'ws';
import { within } from '../helpers/wait.js';
import { alive, BEHAVE, ensureBuild, freePort, NODE_BARE, ROOT, TestDaemon, waitFor } from './harness.js';

t.before(() => ensureBuild());
t.beforeEach((t) => t.setTimeout(120_000));

async function get(port: number): Promise<{ status: number; pid: number }> {
  const res = await request(`http://127.0.0.1:${port}/`, { reset: true });
  await res.body.text();
  return { status: res.statusCode, pid: Number(res.headers['x-instance-pid']) };
}

t.test('a restart whose new instance fails exits 1 with the code on stderr, and the old instance keeps serving', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  const mode = join(d.dir, 'mode');
  writeFileSync(mode, 'ok');
  await d.writeConfig([{ name: 'web', port, command: `${NODE_BARE} ${BEHAVE} --port={port}`, extra: [`environment: ["GV_MODE_FILE=${mode}"]`, 'max_retries: 0'] }]);
  await d.start();
  const [oldPid] = await d.servingPids('web');
  t.same(await get(port), { status: 200, pid: oldPid }, 'the first instance serves');

  writeFileSync(mode, 'exit'); // the next instance exits at start
  const r = await d.ctl('restart', 'web');
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /^gracevisorctl: GV_ERR_START_FAILED: web: /m, 'the error code on stderr');
  t.same(await d.servingPids('web'), [oldPid], 'the same instance serves');
  t.same(await get(port), { status: 200, pid: oldPid }, 'and answers 200');
  t.ok((await d.waitForEvent('restart_failed', { app: 'web', code: 'GV_ERR_START_FAILED' })).fields.attempt, 'the daemon log has event=restart_failed with the code');

  const j = await d.ctl('restart', 'web', '--json');
  t.equal(j.code, 1);
  t.match(JSON.parse(j.stdout), { app: 'web', ok: false, error: { code: 'GV_ERR_START_FAILED' } }, '--json gives the result with the code');
  t.same(await get(port), { status: 200, pid: oldPid }, 'still the old instance');
});

/** Open a WebSocket to the app and send/receive one message at a time. */
async function ws(port: number): Promise<{ say(m: string): Promise<string>; close(): Promise<void> }> {
  const sock = new WebSocket(`ws://127.0.0.1:${port}/`);
  await within(new Promise((resolve, reject) => { sock.once('open', resolve); sock.once('error', reject); }), 10_000, 'WebSocket open');
  return {
    say: (m) => within(new Promise<string>((resolve, reject) => {
      sock.once('message', (data) => resolve(data.toString()));
      sock.once('error', reject);
      sock.send(m);
    }), 10_000, `WebSocket answer to ${m}`),
    close: () => within(new Promise<void>((resolve) => { sock.once('close', () => resolve()); sock.close(); }), 10_000, 'WebSocket close'),
  };
}

t.test('a WebSocket opened before a restart keeps its old instance until it closes; new ones go to the new instance', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  // A long drain_timeout: the old instance may only go when its WebSocket closes.
  await d.writeConfig([{ name: 'chat', port, command: `${NODE_BARE} ${join(ROOT, 'test/fixtures/apps/ws-app.mjs')} --port={port}`, drainTimeout: '60s' }]);
  await d.start();
  const [oldPid] = await d.servingPids('chat');
  const before = await ws(port);
  t.equal(await before.say('hello'), `${oldPid}:hello`, 'the first WebSocket talks to the first instance');

  const restart = d.spawnCtl('restart', 'chat', '--json');
  let restartOut = '';
  restart.stdout!.on('data', (c) => (restartOut += c));
  const restartExit = new Promise<number | null>((r) => restart.on('exit', (code) => r(code)));
  let newPid: number | undefined;
  t.ok(await waitFor(async () => {
    const [a] = await d.status('chat');
    newPid = a.instances.find((i: any) => i.active && i.pid !== oldPid)?.pid;
    return newPid !== undefined;
  }), 'a new instance serves');
  const after = await ws(port);
  t.equal(await after.say('new'), `${newPid}:new`, 'a WebSocket opened after the switch goes to the new instance');
  t.equal(await before.say('still'), `${oldPid}:still`, 'the old WebSocket keeps working on the old instance');
  t.equal((await get(port)).pid, newPid, 'plain requests go to the new instance');
  const [a] = await d.status('chat');
  t.equal(a.instances.find((i: any) => i.pid === oldPid)?.state, 'draining', 'the old instance drains while its WebSocket is open');
  t.ok(alive(oldPid!), 'and is still running');
  t.equal(restart.exitCode, null, 'the restart waits for the drain');

  await before.close();
  t.equal(await within(restartExit, 30_000, 'gracevisorctl restart'), 0, 'the restart completes once the old WebSocket closed');
  t.match(JSON.parse(restartOut), { app: 'chat', ok: true });
  t.ok(await waitFor(() => !alive(oldPid!)), 'the old instance exited');
  t.equal(await after.say('again'), `${newPid}:again`, 'the new WebSocket is unaffected');
  await after.close();
});

/** One TCP connection through the app: the whole answer, or the error. */
function tcpOnce(port: number): Promise<{ ok: boolean; pid: number | null; error: string | null }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let data = '';
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
    s.on('data', (c) => (data += c));
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, pid: null, error: err.code ?? err.message }));
    s.on('close', () => {
      const m = /^ok (\d+)\n$/.exec(data);
      resolve(m ? { ok: true, pid: Number(m[1]), error: null } : { ok: false, pid: null, error: `got ${JSON.stringify(data)}` });
    });
  });
}

t.test('a proxy: splice app serves before, during and after a restart with no failed connection', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  // Ask the real daemon whether the splice engine is available here before configuring an app with it.
  await d.writeConfig([{ name: 'probe', port: await freePort() }]);
  await d.start();
  const plugins = JSON.parse((await d.ctl('plugins', 'list', '--json')).stdout) as { id: string; available: boolean; reason: string | null }[];
  const splice = plugins.find((p) => p.id === 'engines.splice');
  if (!splice?.available) {
    t.skip(`engines.splice is not available here: ${splice?.reason ?? 'not registered'}`);
    return;
  }
  d.child!.kill('SIGTERM');
  t.same(await d.exited(), { code: 0, signal: null });
  await d.writeConfig([{ name: 'pipe', port, command: `${NODE_BARE} ${join(ROOT, 'test/fixtures/apps/tiny.mjs')} --port={port}`, healthcheck: null, extra: ['proxy: splice'] }]);
  await d.start();
  t.equal((await d.status('pipe'))[0].engine, 'splice');
  const [oldPid] = await d.servingPids('pipe');

  const results: { ok: boolean; pid: number | null; error: string | null }[] = [];
  let running = true;
  const loop = async (): Promise<void> => {
    for (let i = 0; i < 20_000 && running; i++) results.push(await tcpOnce(port));
  };
  const loops = Array.from({ length: 4 }, loop);
  t.teardown(async () => { running = false; await Promise.all(loops); });
  t.ok(await waitFor(() => results.length > 50), 'connections flow');
  const r = await d.ctl('restart', 'pipe', '--json');
  t.equal(r.code, 0, r.stderr);
  const [newPid] = await d.servingPids('pipe');
  t.not(newPid, oldPid);
  const atRestart = results.length;
  t.ok(await waitFor(() => results.slice(atRestart).filter((x) => x.pid === newPid).length > 50), 'the new instance serves');
  running = false;
  await within(Promise.all(loops), 30_000, 'the connection loops');
  const failed = results.filter((x) => !x.ok);
  t.same(failed.slice(0, 5), [], `no connection failed (${results.length} made)`);
  t.ok(results.some((x) => x.pid === oldPid) && results.some((x) => x.pid === newPid), 'answers came from the old and then the new instance');
  // Every connection has closed: the engine must count none in flight any more (a connection it
  // never counts out holds every later drain of that instance to its drain_timeout).
  let inFlight: unknown;
  const settled = await waitFor(async () => {
    const [a] = await d.status('pipe');
    inFlight = a.stats.targets.map((x: any) => `${x.id}: ${x.inFlight}`);
    return a.stats.targets.every((x: any) => x.inFlight === 0);
  }, 10_000);
  t.ok(settled, `no connection is counted in flight once all have closed (${JSON.stringify(inFlight)})`);
});
