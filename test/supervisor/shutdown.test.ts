import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { get } from '../helpers/load.js';
import { alive } from '../helpers/processes.js';
import { loadSupervisor, recorder } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor, within } from '../helpers/wait.js';

t.beforeEach((t) => t.setTimeout(120_000));

t.test('shutdown stops accepting, lets in-flight requests finish, stops every app and releases the run_dir', async (t) => {
  const dir = tempDir(t);
  const a = await behaveApp('first', join(dir, 'mode'));
  const b = await behaveApp('second', join(dir, 'mode'), { instances: 2 });
  const cfg = await writeConfig(dir, [a, b]);
  const rec = recorder();
  const sup = await loadSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  await sup.start();
  t.ok(existsSync(join(cfg.runDir, 'gracevisord.lock')));
  const pids = sup.status().flatMap((s) => s.instances.map((i) => i.pid!));
  t.equal(pids.length, 3);
  const slow = get(a.external_port as number, '/slow?ms=800');
  await waitFor(() => sup.status('first')[0]!.stats.targets.some((x) => x.inFlight > 0), 'request in flight');
  const down = sup.shutdown('SIGTERM');
  await waitFor(async () => (await get(a.external_port as number).then(() => false, () => true)), 'new connections refused');
  const res = await within(slow, 30_000, 'the in-flight request');
  t.equal(res.status, 200, 'the in-flight request finished');
  await within(down, 60_000, 'shutdown');
  t.ok(pids.every((p) => !alive(p)), 'every instance is gone');
  t.notOk(existsSync(join(cfg.runDir, 'gracevisord.lock')), 'the lock is released');
  t.same(JSON.parse(readFileSync(join(cfg.runDir, 'state.json'), 'utf8')).instances, [], 'no instance recorded');
  t.equal(rec.of('onDaemonStop').length, 1);
  t.ok(rec.of('onInstanceExit').every((r) => r.e.expected), 'every exit was expected');
  await t.resolves(within(sup.shutdown(), 10_000, 'a second shutdown'), 'a second shutdown resolves');
  t.equal(rec.of('onDaemonStop').length, 1, 'it does not run again: onDaemonStop did not fire twice');
  t.notOk(existsSync(join(cfg.runDir, 'gracevisord.lock')), 'and nothing was taken again');
});
