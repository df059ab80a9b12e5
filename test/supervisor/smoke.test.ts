import t from 'tap';
import { join } from 'node:path';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { get } from '../helpers/load.js';
import { recorder, startSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';

// A regression that makes something here hang fails with the test's name, not at tap's timeout.
t.beforeEach((t) => t.setTimeout(60_000));

t.test('an app started by the supervisor answers on its public port and a restart moves it to a new pid', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('smoke', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [app]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const [st] = sup.status('smoke');
  t.equal(st!.state, 'running');
  const r1 = await get(app.external_port as number);
  t.equal(r1.status, 200);
  const res = await sup.restartApp('smoke');
  t.equal(res.ok, true, JSON.stringify(res));
  const r2 = await get(app.external_port as number);
  t.equal(r2.status, 200);
  t.not(r2.pid, r1.pid);
  t.ok(rec.of('onSwitched').length >= 2);
});
