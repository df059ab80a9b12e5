import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { behaveApp, writeConfig } from '../helpers/config.js';
import { get, KeepAliveLoad } from '../helpers/load.js';
import { freePort } from '../helpers/ports.js';
import { recorder, startSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// A regression that makes something here hang fails with the test's name, not at tap's timeout.
t.beforeEach((t) => t.setTimeout(180_000));

t.test('reload adds new apps, removes gone ones, restarts changed ones hitlessly and leaves unchanged ones alone', async (t) => {
  const dir = tempDir(t);
  const mode = join(dir, 'mode');
  const keep = await behaveApp('keep', mode);
  const change = await behaveApp('change', mode, { environment: [`GV_MODE_FILE=${mode}`, 'GV_LABEL=v1'] });
  const gone = await behaveApp('gone', mode);
  const cfg = await writeConfig(dir, [keep, change, gone]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const keepPid = sup.status('keep')[0]!.instances[0]!.pid;
  const load = new KeepAliveLoad({ port: change.external_port as number, clients: 6, path: '/argv', maxMs: 60_000 });
  t.teardown(() => load.stop());
  load.start();
  await waitFor(() => load.count > 20, 'requests');

  const added = await behaveApp('added', mode);
  cfg.rewrite([keep, { ...change, environment: [`GV_MODE_FILE=${mode}`, 'GV_LABEL=v2'] }, added]);
  const res = await sup.reload();
  t.same(res, { added: ['added'], removed: ['gone'], changed: ['change'], unchanged: ['keep'] });
  await load.stop();
  t.same(load.failures().slice(0, 3), [], 'the changed app dropped no request');
  t.equal(JSON.parse((await get(change.external_port as number, '/argv')).body).env.GV_LABEL, 'v2', 'the changed app runs the new config');
  t.equal(sup.status('keep')[0]!.instances[0]!.pid, keepPid, 'the unchanged app was not touched');
  t.equal((await get(added.external_port as number)).status, 200, 'the new app serves');
  t.throws(() => sup.status('gone'), { code: 'GV_ERR_APP_NOT_FOUND' });
  await t.rejects(get(gone.external_port as number), 'the removed app’s listener is closed');
  t.equal(rec.of('onConfigReloaded').length, 1);
  t.equal(rec.of('onAppRemoved', 'gone').length, 1);
});

t.test('a broken config on reload is rejected with its error and changes nothing', async (t) => {
  const dir = tempDir(t);
  const a = await behaveApp('stay', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [a]);
  const sup = await startSupervisor(t, cfg.file);
  const before = sup.status();
  const config = sup.config;
  writeFileSync(cfg.file, stringify({ port_range: cfg.portRange, run_dir: cfg.runDir, apps: [{ ...a, bogus_key: 1 }] }));
  await t.rejects(sup.reload(), { code: 'GV_ERR_CONFIG_UNKNOWN_KEY' });
  writeFileSync(cfg.file, 'apps: [ {name: x\n');
  await t.rejects(sup.reload(), { code: 'GV_ERR_CONFIG_SYNTAX' });
  t.equal(sup.config, config, 'the config in effect is the old one');
  t.same(sup.status().map((s) => s.instances.map((i) => i.pid)), before.map((s) => s.instances.map((i) => i.pid)), 'same instances');
  t.equal((await get(a.external_port as number)).status, 200);
});

t.test('reload moves an app whose listen address changed to the new address', async (t) => {
  const dir = tempDir(t);
  const a = await behaveApp('moving', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [a]);
  const sup = await startSupervisor(t, cfg.file);
  const port2 = await freePort();
  cfg.rewrite([{ ...a, external_port: port2 }]);
  const res = await sup.reload();
  t.same(res.changed, ['moving']);
  t.equal((await get(port2)).status, 200);
  await t.rejects(get(a.external_port as number));
  t.equal(sup.status('moving')[0]!.address, `127.0.0.1:${port2}`);
});

t.test('add starts an app from a file and refuses a duplicate name or address; remove stops it', async (t) => {
  const dir = tempDir(t);
  const a = await behaveApp('base', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [a]);
  const sup = await startSupervisor(t, cfg.file);
  const extra = await behaveApp('extra', join(dir, 'mode'));
  const file = join(dir, 'extra.yaml');
  writeFileSync(file, stringify(extra));
  const st = await sup.addApp(file);
  t.equal(st.state, 'running');
  t.equal((await get(extra.external_port as number)).status, 200);
  await t.rejects(sup.addApp(file), { code: 'GV_ERR_APP_EXISTS' });
  const clash = join(dir, 'clash.yaml');
  writeFileSync(clash, stringify({ ...extra, name: 'clash' }));
  await t.rejects(sup.addApp(clash), { code: 'GV_ERR_CONFIG_DUPLICATE_LISTEN' });
  // An added app survives a reload of the main file.
  const r = await sup.reload();
  t.same(r.unchanged.sort(), ['base', 'extra']);
  const pid = sup.status('extra')[0]!.instances[0]!.pid!;
  await sup.removeApp('extra');
  t.throws(() => sup.status('extra'), { code: 'GV_ERR_APP_NOT_FOUND' });
  await t.rejects(get(extra.external_port as number));
  t.throws(() => process.kill(pid, 0), 'its instance is gone');
  await t.rejects(sup.removeApp('extra'), { code: 'GV_ERR_APP_NOT_FOUND' });
});

t.test('stop drains and stops every instance and keeps the listener; start brings the app back; kill is immediate', async (t) => {
  const dir = tempDir(t);
  // queue_timeout far beyond any test: a stopped app must refuse at once, not hold requests for it.
  const a = await behaveApp('ops', join(dir, 'mode'), { queue_timeout: '1h' });
  const cfg = await writeConfig(dir, [a]);
  const rec = recorder();
  const sup = await startSupervisor(t, cfg.file, { plugins: [rec.plugin] });
  const stopped = await sup.stopApp('ops');
  t.equal(stopped.state, 'stopped');
  t.equal(stopped.instances.length, 0);
  t.equal((await get(a.external_port as number)).status, 503, 'the listener answers 503 at once while stopped');
  const started = await sup.startApp('ops');
  t.equal(started.state, 'running');
  t.equal((await get(a.external_port as number)).status, 200);
  const pid = started.instances[0]!.pid;
  const killed = await sup.killApp('ops');
  t.equal(killed.state, 'stopped');
  t.equal((await get(a.external_port as number)).status, 503, 'a killed app answers 503 at once too');
  const exit = rec.of('onInstanceExit', 'ops').find((r) => r.e.instance.pid === pid)!;
  t.equal(exit.e.instance.state, 'killed');
  t.equal(rec.of('onInstanceDraining', 'ops').filter((r) => r.e.instance.pid === pid).length, 0, 'no drain on kill');
  t.throws(() => sup.status('nope'), { code: 'GV_ERR_APP_NOT_FOUND' });
});

t.test('reload gives the address of a removed app to a new app, and keeps an operator-stopped app stopped', async (t) => {
  const dir = tempDir(t);
  const mode = join(dir, 'mode');
  const before = await behaveApp('before', mode);
  const idle = await behaveApp('idle', mode, { environment: [`GV_MODE_FILE=${mode}`, 'GV_LABEL=v1'] });
  const cfg = await writeConfig(dir, [before, idle]);
  const sup = await startSupervisor(t, cfg.file);
  await sup.stopApp('idle');
  cfg.rewrite([{ ...before, name: 'after' }, { ...idle, environment: [`GV_MODE_FILE=${mode}`, 'GV_LABEL=v2'] }]);
  const res = await sup.reload();
  t.same(res, { added: ['after'], removed: ['before'], changed: ['idle'], unchanged: [] });
  t.equal(sup.status('after')[0]!.state, 'running');
  t.equal((await get(before.external_port as number)).status, 200, 'the new app serves on the old address');
  t.equal(sup.status('idle')[0]!.state, 'stopped', 'still stopped');
  await sup.startApp('idle');
  t.equal(JSON.parse((await get(idle.external_port as number, '/argv')).body).env.GV_LABEL, 'v2', 'started with the new config');
});

t.test('reload that changes instances from 1 to 2 and back scales the app without dropping requests', async (t) => {
  const dir = tempDir(t);
  const a = await behaveApp('scale', join(dir, 'mode'));
  const cfg = await writeConfig(dir, [a]);
  const sup = await startSupervisor(t, cfg.file);
  const load = new KeepAliveLoad({ port: a.external_port as number, clients: 6, maxMs: 60_000 });
  t.teardown(() => load.stop());
  load.start();
  await waitFor(() => load.count > 20, 'requests');
  cfg.rewrite([{ ...a, instances: 2 }]);
  t.same((await sup.reload()).changed, ['scale']);
  t.equal(sup.status('scale')[0]!.instances.filter((i) => i.active).length, 2, 'two serve');
  cfg.rewrite([a]);
  t.same((await sup.reload()).changed, ['scale']);
  await waitFor(() => sup.status('scale')[0]!.instances.length === 1, 'back to one');
  await load.stop();
  t.same(load.failures().slice(0, 3), [], 'no request failed');
});
