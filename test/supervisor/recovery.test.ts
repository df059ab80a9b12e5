import t from 'tap';
import { join } from 'node:path';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { startDaemon } from '../helpers/daemon.js';
import { get } from '../helpers/load.js';
import { portFree } from '../helpers/ports.js';
import { alive } from '../helpers/processes.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

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
  await second.exited;
  t.ok(old.every((o) => alive(o.pid)), 'the first daemon’s instances still run');

  first.child.kill('SIGKILL');
  await first.exited;
  t.ok(old.every((o) => alive(o.pid)), 'killing the daemon left its instances running (orphans)');
  t.equal((await get(app.external_port as number).catch(() => null)), null, 'nothing listens on the public port');

  const third = startDaemon(t, cfg.file);
  const r3 = await third.ready;
  if (!r3.ok) throw new Error(r3.error.message);
  await waitFor(() => old.every((o) => !alive(o.pid)), 'leftovers gone');
  t.pass('the leftover instances are gone');
  const nowUsed = new Set(r3.status[0]!.instances.map((i) => i.port));
  for (const o of old) {
    if (!nowUsed.has(o.port)) t.equal(await portFree(o.port), true, `port ${o.port} is free`);
    else t.pass(`port ${o.port} was freed and reused by the new run`);
  }
  const res = await get(app.external_port as number);
  t.equal(res.status, 200);
  t.notOk(old.some((o) => o.pid === res.pid));
  third.child.kill('SIGTERM');
  t.same(await third.exited, { code: 0, signal: null }, 'SIGTERM shuts the daemon down cleanly');
  t.ok(r3.status[0]!.instances.every((i) => !alive(i.pid!)), 'and its instances are stopped');
});
