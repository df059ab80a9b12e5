import t from 'tap';
import { request } from 'node:http';
import { join } from 'node:path';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { get, KeepAliveLoad, type LoadSample } from '../helpers/load.js';
import { recorder, startSupervisor, type HookRecord } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor, within } from '../helpers/wait.js';

// Restarts under load may take a while on a loaded machine; a hang is still a failure, not 900 s.
t.beforeEach((t) => t.setTimeout(240_000));

/** For each pid: when it became ready and when it was told to stop (or exited), from the hook records. */
function lifetimes(events: HookRecord[]): Map<number, { readyAt: number; stopAt: number }> {
  const m = new Map<number, { readyAt: number; stopAt: number }>();
  for (const r of events) {
    const pid = r.e?.instance?.pid as number | undefined;
    if (!pid) continue;
    if (r.hook === 'onInstanceReady') m.set(pid, { readyAt: r.at, stopAt: Infinity });
    if ((r.hook === 'onInstanceStopping' || r.hook === 'onInstanceExit') && m.has(pid)) {
      const l = m.get(pid)!;
      l.stopAt = Math.min(l.stopAt, r.at);
    }
  }
  return m;
}

/** Samples answered by a pid that was not serving while the request was open. */
function outOfLife(samples: LoadSample[], life: Map<number, { readyAt: number; stopAt: number }>): LoadSample[] {
  return samples.filter((s) => {
    const l = s.pid === null ? undefined : life.get(s.pid);
    return !l || s.end < l.readyAt || s.start > l.stopAt;
  });
}

t.test('20 restarts under 24 keep-alive clients drop no request and every answer comes from a serving instance', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('load', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const load = new KeepAliveLoad({ port: app.external_port as number, clients: 24, maxMs: 120_000 });
  t.teardown(() => load.stop());
  load.start();
  await waitFor(() => load.count > 50, 'first requests');
  const results = [];
  for (let i = 0; i < 20; i++) {
    const before = load.count;
    results.push(await sup.restartApp('load'));
    // Traffic flows between restarts too, so each switch happens under load.
    await waitFor(() => load.count > before + 24, 'requests after a restart');
  }
  const samples = await load.stop();
  t.equal(results.filter((r) => r.ok).length, 20, 'every restart succeeded');
  t.same(load.failures().slice(0, 5), [], 'no request failed');
  const pids = new Set(samples.map((s) => s.pid));
  t.ok(pids.size >= 15, `responses came from many instances (${pids.size})`);
  t.same(outOfLife(samples, lifetimes(rec.events)).slice(0, 5), [], 'no response from an instance outside its serving time');
  t.ok(samples.length > 500, `${samples.length} requests were sent`);
  t.equal(sup.status('load')[0]!.instances.length, 1, 'one instance left');
});

t.test('a 2-second request started before a restart completes on the old instance, which is stopped only after it', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('slow', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const port = app.external_port as number;
  const oldPid = sup.status('slow')[0]!.instances[0]!.pid;
  const slow = get(port, '/slow?ms=2000');
  await waitFor(() => sup.status('slow')[0]!.stats.targets.some((x) => x.inFlight > 0), 'the slow request in flight');
  const restart = sup.restartApp('slow');
  // While the old one drains, new requests already go to the new instance.
  await waitFor(() => rec.of('onSwitched').length >= 2, 'the switch');
  const during = await get(port, '/');
  t.not(during.pid, oldPid, 'a new request goes to the new instance during the drain');
  const res = await slow;
  const answeredAt = Date.now();
  t.equal(res.status, 200);
  t.equal(res.pid, oldPid, 'the slow request was answered by the old instance');
  t.equal((await restart).ok, true);
  // The stop is what the drain holds back: stop_signal goes out only once the slow request is done.
  // The client reads the answer a moment after the engine saw it end, so the bound allows 0.5 s; a
  // drain that did not wait stops the old instance about 2 s (the request's length) before.
  const stopping = rec.of('onInstanceStopping').find((r) => r.e.instance.pid === oldPid);
  t.ok(stopping && stopping.at >= answeredAt - 500, `the old instance got stop_signal only once the slow request was answered (stop at ${stopping ? stopping.at - answeredAt : '?'} ms from the answer)`);
  const seq = rec.events.filter((r) => r.e?.instance?.pid === oldPid).map((r) => r.hook).filter((h) => h !== 'onInstanceState');
  t.same(seq.slice(seq.indexOf('onInstanceDraining')), ['onInstanceDraining', 'onInstanceDrained', 'onInstanceStopping', 'onInstanceExit'], 'drained, then stopped');
  const drained = rec.of('onInstanceDrained').find((r) => r.e.instance.pid === oldPid)!;
  t.equal(drained.e.drained, true, 'the drain waited for the request (not its timeout)');
  t.equal(drained.e.open, 0);
  const exit = rec.of('onInstanceExit').find((r) => r.e.instance.pid === oldPid)!;
  t.equal(exit.e.instance.state, 'stopped');
  t.equal(exit.e.expected, true);
});

t.test('a request that outlives drain_timeout: the drain gives up with drained:false and the open count, and the old instance is stopped no sooner', async (t) => {
  const dir = tempDir(t);
  // behave.mjs lets an open request finish before it exits on SIGTERM: stop_timeout decides how long.
  const app = await behaveApp('late', join(dir, 'mode'), { drain_timeout: '1s', stop_timeout: '500ms' });
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const port = app.external_port as number;
  const oldPid = sup.status('late')[0]!.instances[0]!.pid;
  // A request that would take a minute: no drain can wait for it. A POST, which the engine does not
  // retry on the new instance when the old one goes (a GET would be retried and answered there).
  const slow = new Promise<number | string>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/slow?ms=60000', method: 'POST', agent: false }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode ?? 0));
      r.on('error', (err) => resolve(err.message));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
  await waitFor(() => sup.status('late')[0]!.stats.targets.some((x) => x.inFlight > 0), 'the slow request in flight');
  const res = await sup.restartApp('late');
  t.equal(res.ok, true, 'the restart succeeds: the new instance serves');
  t.not((await get(port)).pid, oldPid, 'new requests go to the new instance');

  const drained = rec.of('onInstanceDrained', 'late').find((r) => r.e.instance.pid === oldPid);
  t.ok(drained, 'onInstanceDrained fired for the old instance');
  t.equal(drained!.e.drained, false, 'drained: false — the timeout ran out');
  t.equal(drained!.e.open, 1, 'open: the one request still in flight');
  const draining = rec.of('onInstanceDraining', 'late').find((r) => r.e.instance.pid === oldPid)!;
  const stopping = rec.of('onInstanceStopping', 'late').find((r) => r.e.instance.pid === oldPid)!;
  // Lower bounds only (a loaded machine makes everything later, never earlier). 10 ms of slack for
  // the millisecond clocks the two sides read.
  t.ok(drained!.e.elapsedMs >= 1000 - 10, `the drain waited for drain_timeout (elapsedMs ${drained!.e.elapsedMs})`);
  t.ok(stopping.at - draining.at >= 1000 - 10, `stop_signal went out no sooner than drain_timeout after the drain began (${stopping.at - draining.at} ms)`);
  t.ok(drained!.at <= stopping.at, 'the drain ended before the stop');
  const exit = await waitFor(() => rec.of('onInstanceExit', 'late').find((r) => r.e.instance.pid === oldPid), 'the old instance exit');
  t.ok(['stopped', 'killed'].includes(exit.e.instance.state), `the old instance was stopped (${exit.e.instance.state})`);
  const answer = await within(slow, 30_000, 'the answer to the cut request');
  t.not(answer, 200, `the request cut by the stop was not answered 200 (${answer})`);
});

t.test('with instances: 2 both serve and a restart replaces them one at a time', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('pair', join(dir, 'mode'), { instances: 2 });
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const st = sup.status('pair')[0]!;
  t.equal(st.instances.filter((i) => i.active).length, 2);
  const first = new Set(st.instances.map((i) => i.pid));
  const load = new KeepAliveLoad({ port: app.external_port as number, clients: 8, maxMs: 60_000 });
  t.teardown(() => load.stop());
  load.start();
  await waitFor(() => load.count > 40, 'requests');
  const seen = new Set((await Promise.all(Array.from({ length: 20 }, () => get(app.external_port as number)))).map((r) => r.pid));
  t.same([...seen].sort(), [...first].sort(), 'requests are spread over both instances');
  const res = await sup.restartApp('pair');
  t.equal(res.ok, true);
  t.equal(res.serving.length, 2);
  await load.stop();
  t.same(load.failures().slice(0, 5), []);
  // Rolling: the number of serving instances never dropped below 2 and never exceeded 3.
  let serving = 2;
  let min = 2;
  let max = 2;
  for (const r of rec.events) {
    if (r.hook !== 'onSwitched' || r.app !== 'pair' || r.e.from.length === 0) continue;
    serving = r.e.to.length;
    min = Math.min(min, serving);
    max = Math.max(max, serving);
  }
  t.equal(min, 2, 'never fewer than 2 serving');
  const starts = rec.of('onInstanceStarting', 'pair').map((r) => r.at);
  const drains = rec.of('onInstanceDraining', 'pair').map((r) => r.at);
  t.equal(drains.length, 2);
  t.ok(starts[3]! > drains[0]!, 'the second new instance started after the first old one was switched away');
  const after = sup.status('pair')[0]!.instances.map((i) => i.pid);
  t.equal(after.filter((p) => first.has(p)).length, 0, 'both instances were replaced');
});

t.test('a second restart while one runs joins it (coalesced)', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('coal', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const a = sup.restartApp('coal');
  const b = sup.restartApp('coal');
  const c = sup.restartApp('coal');
  const [ra, rb, rc] = await Promise.all([a, b, c]);
  t.equal(ra.coalesced, false);
  t.equal(rb.coalesced, true);
  t.equal(rc.coalesced, true);
  t.same(rb.serving, ra.serving, 'the joined call reports the same result');
  t.equal(rec.of('onRestartSucceeded', 'coal').length, 1, 'one restart ran');
  t.equal(rec.of('onInstanceStarting', 'coal').length, 2, 'the first instance and one replacement');
  const d = await sup.restartApp('coal');
  t.equal(d.coalesced, false, 'a restart after the first finished is a new one');
});
