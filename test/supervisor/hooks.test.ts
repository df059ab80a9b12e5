import t from 'tap';
import { join } from 'node:path';
import type { Plugin } from '../../src/plugins/types.js';
import { DaemonLog, type LogRecord } from '../../src/supervisor/daemon-log.js';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { get } from '../helpers/load.js';
import { recorder, startSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

t.beforeEach((t) => t.setTimeout(120_000));

t.test('a preSwitch veto tears the new instance down and the old one keeps serving', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('veto', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [app]);
  let veto = false;
  const guard: Plugin = { name: 'test:guard', apiVersion: 1, hooks: { preSwitch: () => !veto } };
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [guard, rec.plugin] });
  const oldPid = sup.status('veto')[0]!.instances[0]!.pid;
  veto = true;
  const res = await sup.restartApp('veto');
  t.equal(res.ok, false);
  t.equal(res.error?.code, 'GV_ERR_HOOK_VETO');
  t.equal((await get(app.external_port as number)).pid, oldPid, 'the old instance still serves');
  t.equal(rec.of('onRestartFailed', 'veto').length, 0, 'a veto is not an app failure: no backoff');
  const vetoed = rec.of('onInstanceStarting', 'veto').at(-1)!.e.instance.id;
  const exit = rec.of('onInstanceExit', 'veto').find((r) => r.e.instance.id === vetoed);
  t.ok(exit, 'the vetoed instance was stopped');
});

t.test('a preRestart veto refuses the restart with GV_ERR_HOOK_VETO before anything starts', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('norestart', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [app]);
  const guard: Plugin = { name: 'test:freeze', apiVersion: 1, hooks: { preRestart: () => { throw new Error('change freeze'); } } };
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [guard, rec.plugin] });
  const res = await sup.restartApp('norestart');
  t.equal(res.error?.code, 'GV_ERR_HOOK_VETO');
  t.equal(rec.of('onInstanceStarting', 'norestart').length, 1, 'only the first instance ever started');
});

t.test('a throwing or hanging on* handler is logged with its plugin name and does not hold up a restart', async (t) => {
  const dir = tempDir(t);
  const app = await behaveApp('hooked', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [app]);
  const bad: Plugin = {
    name: 'test:bad',
    apiVersion: 1,
    hooks: {
      onSwitched: () => { throw new Error('boom'); },
      onInstanceReady: () => new Promise(() => {}),
    },
  };
  const log = new DaemonLog({ stderr: false });
  const records: LogRecord[] = [];
  log.onRecord((r) => records.push(r));
  const sup = await startSupervisor(t, cfg.file, { plugins: [bad], log, hookTimeoutMs: 200 });
  const res = await sup.restartApp('hooked');
  t.equal(res.ok, true, 'the restart completed');
  const errors = () => records.filter((r) => r.level === 'error' && r.fields.plugin === 'test:bad');
  t.ok(await waitFor(() => errors().some((r) => r.fields.code === 'GV_ERR_HOOK_HANDLER' && r.fields.hook === 'onSwitched'), 'the throw logged'), 'the throw is logged');
  // The hang is logged once hookTimeoutMs (200 ms) has passed; waited for, not slept for.
  t.ok(await waitFor(() => errors().some((r) => r.fields.code === 'GV_ERR_HOOK_TIMEOUT' && r.fields.hook === 'onInstanceReady'), 'the hang logged'), 'the hang is logged');
});
