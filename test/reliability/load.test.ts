// Items 11, 12 and 13 of the reliability issue: clients under load. A killed instance, an app that
// closes keep-alive connections under the proxy, and a slowloris flood must not fail a client's
// request (GET), and must not take the daemon's control plane or other clients down.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Daemon, DEMO_CMD, fdCount, FIXTURES, NODE_BARE, parseLog, port, setup, sleep, until, yamlApp } from './fixtures/lib.js';

setup(t);

interface Outcome {
  status: number | null;
  error: string | null;
  pid: number | null;
  ms: number;
}

/** One request through `agent`; never rejects. */
function once(agent: Agent, p: number, method: 'GET' | 'POST'): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise<Omit<Outcome, 'ms'>>((resolve) => {
    const body = method === 'POST' ? 'x=1&y=2' : undefined;
    const req = request({ host: '127.0.0.1', port: p, path: '/', method, agent, headers: body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) } : {} }, (res) => {
      res.resume();
      res.on('end', () => {
        const pid = Number(res.headers['x-instance-pid']);
        resolve({ status: res.statusCode ?? null, error: null, pid: Number.isInteger(pid) ? pid : null });
      });
      res.on('error', (e) => resolve({ status: res.statusCode ?? null, error: e.message, pid: null }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => resolve({ status: null, error: (e as NodeJS.ErrnoException).code ?? e.message, pid: null }));
    req.end(body);
  }).then((o) => ({ ...o, ms: Date.now() - t0 }));
}

/** `clients` keep-alive clients (one socket each) sending back to back until stopped, or a count or time bound. */
function keepAliveLoad(p: number, opts: { clients: number; method?: 'GET' | 'POST'; maxRequests?: number; maxMs?: number }) {
  const results: Outcome[] = [];
  const agents = Array.from({ length: opts.clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  let running = true;
  const max = opts.maxRequests ?? 20_000;
  const end = Date.now() + (opts.maxMs ?? 60_000);
  const loops = agents.map(async (agent) => {
    while (running && results.length < max && Date.now() < end) results.push(await once(agent, p, opts.method ?? 'GET'));
  });
  const done = Promise.all(loops);
  return {
    results,
    done,
    async stop(): Promise<Outcome[]> {
      running = false;
      await done;
      for (const a of agents) a.destroy();
      return results;
    },
  };
}

/** This process's soft limit of open files (/proc/self/limits). */
function openFilesLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
}

function failures(rs: Outcome[]): Outcome[] {
  return rs.filter((r) => r.error !== null || r.status !== 200);
}

function summary(rs: Outcome[]): string {
  const m: Record<string, number> = {};
  for (const r of rs) {
    const k = r.error ?? String(r.status);
    m[k] = (m[k] ?? 0) + 1;
  }
  const slow = rs.filter((r) => r.ms >= 900).length;
  const max = rs.reduce((a, r) => Math.max(a, r.ms), 0);
  return `${JSON.stringify(m)}, slowest ${max} ms, ${slow} took >= 900 ms`;
}

/** The daemon's `upstream request failed` warnings by error (and the folded repeats). */
function upstreamErrors(d: Daemon): string {
  const m: Record<string, number> = {};
  for (const l of parseLog(d.output)) {
    if (l.level !== 'WARN' || l.fields.target === undefined || l.fields.error === undefined) continue;
    const k = l.fields.error;
    m[k] = (m[k] ?? 0) + (l.fields.repeated ? Number(l.fields.repeated) : 1);
  }
  return JSON.stringify(m);
}

function demoApp(name: string, p: number, instances = 1): string {
  return yamlApp({ name, command: DEMO_CMD, healthcheck: '/health', external_host: '127.0.0.1', external_port: p, instances, stop_timeout: '5s', drain_timeout: '5s' });
}

/** Under load from `clients` keep-alive clients: SIGKILL `victim` once `before` requests are done, then run until `after` more answered from another pid. */
async function killUnderLoad(d: Daemon, app: string, p: number, victim: number, clients: number): Promise<{ results: Outcome[]; pidsAfter: Set<number> }> {
  const load = keepAliveLoad(p, { clients, maxRequests: 6000, maxMs: 90_000 });
  await until(() => load.results.length >= 500, 30_000, 10);
  process.kill(victim, 'SIGKILL');
  const killedAt = load.results.length;
  // Until 1500 more requests were answered after the kill, and by a new instance.
  await until(() => load.results.length >= killedAt + 1500 && load.results.slice(killedAt).some((r) => r.pid !== null && r.pid !== victim), 60_000, 20);
  const results = await load.stop();
  const pidsAfter = new Set(results.slice(killedAt).map((r) => r.pid).filter((x): x is number => x !== null));
  await d.status(app).catch(() => undefined);
  return { results, pidsAfter };
}

t.test('SIGKILL of the only instance under keep-alive GET load fails no request (3 times), nor does SIGKILL of one of two', async (t) => {
  const d = Daemon.create(t);
  const [p1, p2] = [await port(), await port()];
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + demoApp('solo', p1, 1) + demoApp('pair', p2, 2));
  await d.start(conf);
  await d.waitServing('solo', 1);
  await d.waitServing('pair', 2);

  for (let round = 1; round <= 3; round++) {
    const [victim] = await d.waitServing('solo', 1);
    const { results, pidsAfter } = await killUnderLoad(d, 'solo', p1, victim!, 10);
    t.comment(`solo round ${round}: killed ${victim}; ${results.length} requests: ${summary(results)}; pids after the kill: ${[...pidsAfter].join(', ')}`);
    t.ok(results.length >= 2000, `round ${round}: at least 2000 requests counted (${results.length})`);
    t.same(failures(results).length, 0, `round ${round}: 0 failed requests (no 502, no 503, no socket error)`);
    t.ok([...pidsAfter].some((x) => x !== victim), `round ${round}: a new instance answered`);
    // The next round kills the replacement once it serves.
    await until(async () => (await d.serving('solo')).some((x) => x !== victim), 30_000, 100);
  }

  const pair = await d.waitServing('pair', 2);
  const { results, pidsAfter } = await killUnderLoad(d, 'pair', p2, pair[0]!, 10);
  t.comment(`pair: killed ${pair[0]} of ${pair.join(', ')}; ${results.length} requests: ${summary(results)}; pids after: ${[...pidsAfter].join(', ')}`);
  t.ok(results.length >= 2000, `at least 2000 requests counted (${results.length})`);
  t.same(failures(results).length, 0, 'instances: 2, one killed: 0 failed requests');
});

t.test('an app that closes keep-alive connections abruptly: 0 failed GETs under load; failed POSTs counted', async (t) => {
  const d = Daemon.create(t);
  const [pd, pi, pr] = [await port(), await port(), await port()];
  const app = (name: string, p: number, mode: string): string => [
    `  - name: ${name}`,
    `    command: ${NODE_BARE} ${join(FIXTURES, 'abrupt.mjs')} --port={port}`,
    `    environment: ["ABRUPT=${mode}"]`,
    '    external_host: 127.0.0.1',
    `    external_port: ${p}`,
    '    stop_timeout: 2s',
  ].join('\n') + '\n';
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + app('destroy', pd, 'destroy') + app('idle', pi, 'idle200') + app('reuse', pr, 'reuse'));
  await d.start(conf);
  await d.waitServing('destroy');
  await d.waitServing('idle');
  await d.waitServing('reuse');

  // "destroy": the socket is destroyed after every response, without Connection: close. A pooled
  // connection is then reused just as it closes now and then (a few per thousand requests), so
  // enough GETs are sent that a failure would show.
  const GETS = 4000;
  const g = keepAliveLoad(pd, { clients: 20, maxRequests: GETS, maxMs: 90_000 });
  await g.done;
  const getResults = await g.stop();
  t.comment(`destroy-after-response, GET: ${getResults.length} requests: ${summary(getResults)}; daemon upstream errors so far: ${upstreamErrors(d)}`);
  t.ok(getResults.length >= GETS, 'every GET was counted');
  t.same(failures(getResults).length, 0, 'GET: 0 failures');

  const po = keepAliveLoad(pd, { clients: 20, method: 'POST', maxRequests: 2000, maxMs: 60_000 });
  await po.done;
  const postResults = await po.stop();
  t.comment(`destroy-after-response, POST: ${postResults.length} requests, ${failures(postResults).length} failed: ${summary(postResults)} (POSTs are not retried; not asserted)`);
  t.ok(postResults.length >= 2000, 'every POST was counted');

  // "reuse": every request on a reused connection is met by a destroyed socket, so any retry that
  // goes back to a pooled connection fails too: GETs get 0 failures only when a retry uses a fresh
  // connection.
  const r = keepAliveLoad(pr, { clients: 20, maxRequests: 400, maxMs: 90_000 });
  await r.done;
  const reuseGets = await r.stop();
  t.comment(`no-reuse server, GET: ${reuseGets.length} requests: ${summary(reuseGets)}`);
  t.ok(reuseGets.length >= 400, 'every GET was counted');
  t.same(failures(reuseGets).length, 0, 'GET through a server that drops reused connections: 0 failures');
  const rp = keepAliveLoad(pr, { clients: 20, method: 'POST', maxRequests: 400, maxMs: 60_000 });
  await rp.done;
  const reusePosts = await rp.stop();
  t.comment(`no-reuse server, POST: ${reusePosts.length} requests, ${failures(reusePosts).length} failed: ${summary(reusePosts)} (not asserted)`);

  // "idle200": an ordinary server that closes a keep-alive connection idle for 200 ms. Clients with a
  // pause around 200 ms between requests meet its close as often as it can happen.
  const pauseLoad = async (method: 'GET' | 'POST', n: number): Promise<Outcome[]> => {
    const results: Outcome[] = [];
    const end = Date.now() + 60_000;
    await Promise.all(Array.from({ length: 20 }, async (_, c) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (results.length < n && Date.now() < end) {
        results.push(await once(agent, pi, method));
        await sleep(180 + ((c * 7 + results.length) % 40));
      }
      agent.destroy();
    }));
    return results;
  };
  const ig = await pauseLoad('GET', 600);
  t.comment(`keepAliveTimeout 200ms, GET with ~200 ms pauses: ${ig.length} requests: ${summary(ig)}`);
  t.same(failures(ig).length, 0, 'GET: 0 failures');
  const ip = await pauseLoad('POST', 600);
  t.comment(`keepAliveTimeout 200ms, POST with ~200 ms pauses: ${ip.length} requests, ${failures(ip).length} failed: ${summary(ip)} (not asserted)`);
  t.ok(ip.length >= 600, 'every POST was counted');
});

t.test('5 000 slowloris connections (header_timeout 2s, max_connections 1000): control and a normal client still work, the slow ones get 408 or are shed, descriptors return to baseline', async (t) => {
  // 5 000 client sockets in this process: the open-files soft limit must allow them with room to
  // spare (node cannot raise its own limit); with a lower limit the flood is scaled down, and says so.
  const soft = openFilesLimit();
  const WANT = Math.min(5000, soft - 300);
  if (WANT < 5000) t.comment(`the open files limit here is ${soft}: ${WANT} slowloris connections instead of 5000`);
  t.ok(WANT > 1000, `enough descriptors for more connections than max_connections (limit ${soft})`);
  const d = Daemon.create(t);
  const p = await port();
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + demoApp('web', p, 1).replace('    stop_timeout: 5s\n', '    stop_timeout: 5s\n    header_timeout: 2s\n    max_connections: 1000\n'));
  await d.start(conf);
  await d.waitServing('web');
  await sleep(500);
  const base = fdCount(d.pid);

  const outcome = { r408: 0, shed: 0, reset: 0, other: 0, open: 0 };
  const sockets: Socket[] = [];
  const settled: Promise<void>[] = [];
  const t0 = Date.now();
  let opened = 0;
  let openErrors = 0;
  for (let i = 0; i < WANT && Date.now() - t0 < 60_000; i++) {
    const s = connect(p, '127.0.0.1');
    sockets.push(s);
    let data = '';
    settled.push(new Promise<void>((resolve) => {
      s.on('connect', () => {
        opened++;
        s.write('GET / HTTP/1.1\r\nHost: x\r\n');
      });
      s.on('data', (c) => (data += c));
      s.on('error', (e) => {
        if (!data && (e as NodeJS.ErrnoException).code !== 'ECONNRESET') openErrors++;
      });
      s.on('close', () => {
        if (data.startsWith('HTTP/1.1 408')) outcome.r408++;
        else if (data === '') outcome.shed++;
        else outcome.other++;
        resolve();
      });
    }));
    // Open in batches so the accept queue keeps up.
    if (i % 250 === 249) await sleep(20);
  }
  const openedMs = Date.now() - t0;

  // Meanwhile: the control socket answers, and a normal client gets 200 (a few tries within 30 s).
  const st = await d.ctl('status', '--json');
  t.equal(st.code, 0, 'gracevisorctl status answers during the flood');
  let normal: Outcome | null = null;
  let tries = 0;
  await until(async () => {
    tries++;
    normal = await once(new Agent({ keepAlive: false }), p, 'GET');
    return normal.status === 200;
  }, 30_000, 200);
  t.equal(normal!.status, 200, `a normal client gets 200 during the flood (after ${tries} tries)`);
  const peakFd = fdCount(d.pid);

  // Every slow connection ends: 408 at header_timeout, or shed to make room.
  const allDone = await until(async () => {
    await Promise.race([Promise.all(settled), sleep(500)]);
    return sockets.every((s) => s.destroyed || s.closed);
  }, 60_000, 100);
  outcome.open = sockets.filter((s) => !s.closed).length;
  t.comment(`opened ${opened} of ${sockets.length} slow connections in ${openedMs} ms (${openErrors} connect errors); outcomes ${JSON.stringify(outcome)}; daemon fds baseline ${base}, during ${peakFd}`);
  t.ok(allDone, 'every slow connection was closed by the daemon within 60 s');
  t.equal(outcome.other, 0, 'none got anything but a 408 or a close');
  t.equal(outcome.r408 + outcome.shed, sockets.length, 'each got 408 or was shed');
  for (const s of sockets) s.destroy();
  let after = -1;
  t.ok(await until(() => (after = fdCount(d.pid)) <= base + 10, 30_000, 200), `the daemon's fd count returned near its baseline (${after} vs ${base})`);
});
