import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { get, KeepAliveLoad } from '../helpers/load.js';
import { recorder, startSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// A regression that makes something here hang fails with the test's name, not at tap's timeout.
t.beforeEach((t) => t.setTimeout(180_000));

const cases = [
  { mode: 'exit', code: 'GV_ERR_START_FAILED', state: 'failed', over: {} },
  { mode: 'hang', code: 'GV_ERR_START_TIMEOUT', state: 'timed_out', over: { start_timeout: '600ms' } },
  { mode: 'unhealthy', code: 'GV_ERR_HEALTHCHECK_FAILED', state: 'timed_out', over: { start_timeout: '600ms', healthcheck: '/health' } },
] as const;

for (const c of cases) {
  t.test(`restart keeps the old instance serving when the new one fails (${c.mode}), and backs off`, async (t) => {
    const dir = tempDir(t);
    const modeFile = join(dir, 'mode');
    const app = await behaveApp(`fail-${c.mode}`, modeFile, { max_retries: 5, ...c.over });
    const cfg = await writeConfig(dir, [app]);
    const rec = recorder();
    const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
    const name = app.name as string;
    const oldPid = sup.status(name)[0]!.instances[0]!.pid;
    const load = new KeepAliveLoad({ port: app.external_port as number, clients: 6, maxMs: 60_000 });
    t.teardown(() => load.stop());
    load.start();
    await waitFor(() => load.count > 20, 'requests');

    writeFileSync(modeFile, c.mode);
    const res = await sup.restartApp(name);
    t.equal(res.ok, false);
    t.equal(res.error?.code, c.code);
    t.same(sup.status(name)[0]!.instances.filter((i) => i.active).map((i) => i.pid), [oldPid], 'the old instance still serves');
    const failedState = rec.of('onInstanceState', name).find((r) => r.e.to === c.state);
    t.ok(failedState, `the new instance went to ${c.state}`);
    t.ok(typeof failedState?.e.error === 'string' && failedState.e.error.length > 0, `the state event says why it went to ${c.state} (${failedState?.e.error})`);
    t.notOk(rec.of('onInstanceState', name).some((r) => r.e.to === 'starting' && 'error' in r.e), 'a state change without a problem carries no error');

    // The policy retries after a backoff that grows.
    await waitFor(() => rec.of('onRestartFailed', name).length >= 2, 'a retry after backoff', 20_000);
    const [f1, f2] = rec.of('onRestartFailed', name);
    t.equal(f1!.e.attempt, 1);
    t.equal(f2!.e.attempt, 2);
    t.equal(f1!.e.error.code, c.code);
    t.ok(f1!.e.nextAttemptMs > 0);
    t.ok(f2!.e.nextAttemptMs > f1!.e.nextAttemptMs, 'backoff grows');
    t.ok(f2!.at - f1!.at >= f1!.e.nextAttemptMs, 'the retry waited for the backoff');

    // Fix the app: the next retry succeeds and takes over.
    writeFileSync(modeFile, 'ok');
    await waitFor(() => rec.of('onRestartSucceeded', name).length >= 1, 'a successful retry', 20_000);
    const samples = await load.stop();
    t.same(load.failures().slice(0, 5), [], 'no request failed through it all');
    t.not(sup.status(name)[0]!.instances[0]!.pid, oldPid, 'the fixed new instance serves now');
    t.ok(samples.some((s) => s.pid === oldPid));
  });
}

t.test('after max_retries failed attempts the app is fatal and the old instance keeps serving', async (t) => {
  const dir = tempDir(t);
  const modeFile = join(dir, 'mode');
  const app = await behaveApp('fatal', modeFile, { max_retries: 2 });
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  writeFileSync(modeFile, 'exit');
  await sup.restartApp('fatal');
  await waitFor(() => rec.of('onAppFatal', 'fatal').length === 1, 'onAppFatal', 20_000);
  const fails = rec.of('onRestartFailed', 'fatal');
  t.equal(fails.length, 3, 'the first attempt and two retries');
  t.equal(fails[2]!.e.nextAttemptMs, null, 'the last one gives up');
  t.equal(rec.of('onAppFatal', 'fatal')[0]!.e.retries, 2);
  const st = sup.status('fatal')[0]!;
  t.equal(st.state, 'fatal');
  t.equal((await get(app.external_port as number)).status, 200, 'the old instance still answers');
  // An operator's restart clears fatal.
  writeFileSync(modeFile, 'ok');
  const res = await sup.restartApp('fatal');
  t.equal(res.ok, true);
  t.equal(sup.status('fatal')[0]!.state, 'running');
});

t.test('an app that ignores SIGTERM is killed after stop_timeout', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('stubborn', join(dir, 'mode'), { stop_timeout: '300ms', environment: [`GV_MODE_FILE=${join(dir, 'mode')}`, 'GV_IGNORE_TERM=1'] });
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const oldPid = sup.status('stubborn')[0]!.instances[0]!.pid;
  const res = await sup.restartApp('stubborn');
  t.equal(res.ok, true);
  const exit = await waitFor(() => rec.of('onInstanceExit', 'stubborn').find((r) => r.e.instance.pid === oldPid), 'the old instance exit');
  t.equal(exit.e.instance.state, 'killed');
  t.equal(exit.e.exit.signal, 'SIGKILL');
  const stopping = rec.of('onInstanceStopping', 'stubborn').find((r) => r.e.instance.pid === oldPid)!;
  t.equal(stopping.e.signal, 'TERM', 'stop_signal came first');
});

t.test('a serving instance killed with SIGKILL is replaced and requests in the gap succeed', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('crash', join(dir, 'mode'), { queue_timeout: '20s' });
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const oldPid = sup.status('crash')[0]!.instances[0]!.pid!;
  const load = new KeepAliveLoad({ port: app.external_port as number, clients: 8, maxMs: 60_000 });
  t.teardown(() => load.stop());
  load.start();
  await waitFor(() => load.count > 40, 'requests');
  process.kill(oldPid, 'SIGKILL');
  await waitFor(() => rec.of('onInstanceExit', 'crash').some((r) => r.e.instance.pid === oldPid), 'the crash seen');
  const atCrash = load.count;
  await waitFor(() => sup.status('crash')[0]!.instances.some((i) => i.active && i.pid !== oldPid), 'a replacement serving');
  await waitFor(() => load.count > atCrash + 40, 'requests after the replacement');
  await load.stop();
  const exit = rec.of('onInstanceExit', 'crash').find((r) => r.e.instance.pid === oldPid)!;
  t.equal(exit.e.expected, false);
  t.equal(exit.e.instance.state, 'exited');
  // Requests caught by the crash itself (in flight on the killed process) cannot be saved; every
  // request sent in the gap, after the crash was seen, must succeed.
  const gap = load.samples.filter((s) => s.start >= exit.at);
  t.ok(gap.length > 0);
  t.same(gap.filter((s) => s.status !== 200).slice(0, 5), [], 'requests sent in the gap succeeded');
  t.equal(sup.status('crash')[0]!.state, 'running');
  t.equal(sup.status('crash')[0]!.restarts, 1, 'the replacement counts as one restart');
});

t.test('a serving instance that fails its liveness check is replaced gracefully', async (t) => {
  const dir = tempDir(t);
  const modeFile = join(dir, 'mode');
  const app = await behaveApp('sick', modeFile, { healthcheck: { type: 'http', path: '/health', interval: '100ms', timeout: '500ms', unhealthy_threshold: 2 } });
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const oldPid = sup.status('sick')[0]!.instances[0]!.pid;
  writeFileSync(`${modeFile}.sick`, '');
  await waitFor(() => rec.of('onInstanceState', 'sick').some((r) => r.e.to === 'unhealthy'), 'unhealthy');
  // The replacement reads the same file: let it be healthy.
  writeFileSync(modeFile, 'ok');
  const { rmSync } = await import('node:fs');
  rmSync(`${modeFile}.sick`);
  await waitFor(() => sup.status('sick')[0]!.instances.some((i) => i.active && i.pid !== oldPid), 'a replacement');
  const health = rec.of('onHealthChange', 'sick');
  t.equal(health[0]!.e.healthy, false);
  const exit = await waitFor(() => rec.of('onInstanceExit', 'sick').find((r) => r.e.instance.pid === oldPid), 'old gone');
  t.equal(exit.e.instance.state, 'stopped', 'the unhealthy one was drained and stopped, not killed');
  t.ok(rec.of('onInstanceDrained', 'sick').some((r) => r.e.instance.pid === oldPid), 'the unhealthy instance was drained before its stop');
  t.equal(sup.status('sick')[0]!.restarts, 1, 'the replacement counts as one restart');
});
