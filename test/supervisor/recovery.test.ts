import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { startDaemon } from '../helpers/daemon.js';
import { get } from '../helpers/load.js';
import { portFree } from '../helpers/ports.js';
import { alive } from '../helpers/processes.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor, within } from '../helpers/wait.js';
import { parseLog } from '../cli/harness.js';

t.beforeEach((t) => t.setTimeout(120_000));

t.test('a daemon killed with SIGKILL leaves instances that the next start stops, freeing their ports', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('left', join(dir, 'mode'), { instances: 2 });
  const cfg = await writeConfig(dir, [app]);
  const first = startDaemon(t, cfg.file);
  const r1 = await first.ready;
  if (!r1.ok) throw new Error(r1.error.message);
  const old = r1.status[0]!.instances.map((i) => ({ pid: i.pid!, port: i.port }));
  t.equal(old.length, 2);

  // A second daemon on the same run_dir refuses to start and touches nothing.
  const second = startDaemon(t, cfg.file);
  const r2 = await second.ready;
  t.equal(r2.ok, false);
  if (!r2.ok) t.equal(r2.error.code, 'GV_ERR_DAEMON_RUNNING');
  t.same(await within(second.exited, 30_000, 'the refused daemon exit'), { code: 1, signal: null }, 'the refused daemon exits 1');
  t.ok(old.every((o) => alive(o.pid)), 'the first daemon’s instances still run');

  first.child.kill('SIGKILL');
  await within(first.exited, 30_000, 'the killed daemon exit');
  t.ok(old.every((o) => alive(o.pid)), 'killing the daemon left its instances running (orphans)');
  t.equal((await get(app.external_port as number).catch(() => null)), null, 'nothing listens on the public port');

  const third = startDaemon(t, cfg.file);
  const r3 = await third.ready;
  if (!r3.ok) throw new Error(r3.error.message);
  await waitFor(() => old.every((o) => !alive(o.pid)), 'leftovers gone').catch(() => undefined);
  t.same(old.filter((o) => alive(o.pid)).map((o) => o.pid), [], 'the leftover instances are gone');
  const recovered = parseLog(readFileSync(join(cfg.logDir, 'gracevisor.log'), 'utf8')).filter((l) => l.fields.event === 'recovered_instance');
  t.same(recovered.map((l) => Number(l.fields.pid)).sort(), old.map((o) => o.pid).sort(), 'the daemon log has event=recovered_instance for each leftover');
  const outcomes = recovered.map((l) => l.fields.outcome);
  t.ok(outcomes.every((o) => o === 'stopped' || o === 'killed'), `each was running and was stopped (outcome=${outcomes.join(',')})`);
  for (const o of old) {
    const reuser = r3.status[0]!.instances.find((i) => i.port === o.port);
    if (!reuser) {
      t.equal(await portFree(o.port), true, `port ${o.port} is free`);
    } else {
      // Reused by the new run: what answers there now is a new instance, not the leftover.
      t.notOk(old.some((x) => x.pid === reuser.pid), `port ${o.port} went to a new instance`);
      t.equal((await get(o.port)).pid, reuser.pid, `port ${o.port} is served by the new run's instance ${reuser.pid}`);
    }
  }
  const res = await get(app.external_port as number);
  t.equal(res.status, 200);
  t.notOk(old.some((o) => o.pid === res.pid));
  third.child.kill('SIGTERM');
  t.same(await within(third.exited, 60_000, 'the daemon exit'), { code: 0, signal: null }, 'SIGTERM shuts the daemon down cleanly');
  t.ok(r3.status[0]!.instances.every((i) => !alive(i.pid!)), 'and its instances are stopped');
});
