import t from 'tap';
import { appendFile, readFile } from 'node:fs/promises';
import { Pool } from 'undici';
import { alive, ensureBuild, freePort, TestDaemon, waitFor, type TestApp } from './harness.js';

t.before(() => ensureBuild());
// A regression that makes a reload or a daemon hang fails here, with the test's name.
t.beforeEach((t) => t.setTimeout(180_000));

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const gen = (n: number): string[] => [`environment: ["GEN=${n}"]`];

t.test('reload adds new apps, removes gone ones, restarts changed ones and leaves the rest alone', async (t) => {
  const d = await TestDaemon.create(t);
  const [webPort, apiPort, oldPort, newPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  await d.writeConfig([{ name: 'web', port: webPort, extra: gen(1) }, { name: 'api', port: apiPort }, { name: 'old', port: oldPort }]);
  await d.start();
  const [web1] = await d.servingPids('web');
  const [api1] = await d.servingPids('api');
  const [old1] = await d.servingPids('old');

  await d.writeConfig([{ name: 'web', port: webPort, extra: gen(2) }, { name: 'api', port: apiPort }, { name: 'new', port: newPort }]);
  const r = await d.ctl('reload', '--json');
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { added: ['new'], removed: ['old'], changed: ['web'], unchanged: ['api'] });
  const [web2] = await d.servingPids('web');
  t.not(web2, web1, 'the changed app got a new instance');
  t.same(await d.servingPids('api'), [api1], 'the unchanged app kept its instance');
  t.ok(await waitFor(() => !alive(old1!) && !alive(web1!)), 'the removed app and the replaced instance exited');
  t.same((await d.status()).map((a) => a.name).sort(), ['api', 'new', 'web']);

  // The human form of an empty reload.
  const again = await d.ctl('reload');
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /^added:\s+-\nremoved:\s+-\nchanged:\s+-\nunchanged:\s+(api, new, web|.*api.*)\n$/);
});

t.test('a broken config on reload is reported with file:line:col and changes nothing', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  await d.writeConfig([{ name: 'web', port, extra: gen(1) }]);
  await d.start();
  const before = await d.servingPids('web');
  await d.writeConfig([{ name: 'web', port, extra: gen(2) }]);
  await appendFile(d.confFile, '  - name: second\n    command: no-placeholder\n');
  const line = (await readFile(d.confFile, 'utf8')).split('\n').findIndex((l) => l.includes('no-placeholder')) + 1;
  // `    command: no-placeholder`: the problem is the command value, at column 14.
  const col = 14;
  const r = await d.ctl('reload');
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`^${escape(d.confFile)}:${line}:${col}: GV_ERR_CONFIG_PORT_PLACEHOLDER: `, 'm'));
  t.match(r.stderr, /^gracevisorctl: GV_ERR_CONFIG_PORT_PLACEHOLDER: .*nothing was changed$/m);
  const j = await d.ctl('reload', '--json');
  t.equal(j.code, 1);
  const err = JSON.parse(j.stdout).error;
  t.equal(err.errors[0].code, 'GV_ERR_CONFIG_PORT_PLACEHOLDER');
  t.same(err.errors[0].pos, { file: d.confFile, line, col }, 'the position is the command value');
  t.same(await d.servingPids('web'), before, 'the running app was not touched');
  t.same((await d.status()).map((a) => a.name), ['web']);
});

t.test('SIGHUP reloads like gracevisorctl reload, and a broken config on SIGHUP changes nothing', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  await d.writeConfig([{ name: 'web', port, extra: gen(1) }]);
  await d.start();
  const [pid1] = await d.servingPids('web');
  await d.writeConfig([{ name: 'web', port, extra: gen(2) }]);
  d.child!.kill('SIGHUP');
  const done = await d.waitForEvent('reload_done');
  t.equal(done.fields.changed, '["web"]', 'event=reload_done names the changed app');
  t.equal(d.events('reload_started', { signal: 'SIGHUP' }).length, 1, 'event=reload_started signal=SIGHUP came first');
  t.ok(await waitFor(async () => (await d.servingPids('web'))[0] !== pid1), 'SIGHUP restarted the changed app');
  const [pid2] = await d.servingPids('web');

  await d.writeConfig([{ name: 'web', port, extra: [...gen(3), 'bogus_option: 1'] }]);
  const line = (await readFile(d.confFile, 'utf8')).split('\n').findIndex((l) => l.includes('bogus_option')) + 1;
  d.child!.kill('SIGHUP');
  const failed = await d.waitForEvent('reload_failed', { code: 'GV_ERR_CONFIG_UNKNOWN_KEY' });
  const problems = d.events('reload_problem');
  t.same(problems.map((p) => p.fields.code), ['GV_ERR_CONFIG_UNKNOWN_KEY'], 'one event=reload_problem with its code');
  // The position is only in the message text (there is no file/line/col field): the documented
  // `file:line:col: CODE` prefix, at the key `bogus_option` (column 5).
  t.match(problems[0]!.msg, `${d.confFile}:${line}:5: GV_ERR_CONFIG_UNKNOWN_KEY`);
  t.ok(failed, 'and event=reload_failed');
  t.same(await d.servingPids('web'), [pid2], 'nothing changed');
  t.equal(d.child!.exitCode, null, 'the daemon is still running');
});

interface LoadStats {
  ok: number;
  failed: number;
  errors: string[];
  pids: Set<string>;
}

/** Keep-alive load on one port from `workers` parallel loops until `stop()` or a bound is reached. */
function load(port: number, workers = 4, maxRequests = 20_000, maxMs = 60_000) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: workers, pipelining: 1 });
  const stats: LoadStats = { ok: 0, failed: 0, errors: [], pids: new Set() };
  let stopping = false;
  const started = Date.now();
  const loop = async (): Promise<void> => {
    while (!stopping && stats.ok + stats.failed < maxRequests && Date.now() - started < maxMs) {
      try {
        const res = await pool.request({ method: 'GET', path: '/' });
        const body = await res.body.text();
        if (res.statusCode === 200) {
          stats.ok++;
          stats.pids.add(String(res.headers['x-instance-pid']));
        } else {
          stats.failed++;
          stats.errors.push(`${res.statusCode} ${body.slice(0, 80)}`);
        }
      } catch (err) {
        stats.failed++;
        stats.errors.push((err as Error).message);
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, loop));
  let closed: Promise<void> | null = null;
  return {
    stats,
    /** Idempotent: the test and its teardown both call it. */
    async stop(): Promise<LoadStats> {
      stopping = true;
      await done;
      closed ??= pool.close();
      await closed;
      return stats;
    },
  };
}

t.test('a reload that restarts one app while both serve keep-alive load fails no request', async (t) => {
  const d = await TestDaemon.create(t);
  const [webPort, apiPort] = [await freePort(), await freePort()];
  const apps = (n: number): TestApp[] => [{ name: 'web', port: webPort, extra: gen(n) }, { name: 'api', port: apiPort }];
  await d.writeConfig(apps(1));
  await d.start();
  const [web1] = await d.servingPids('web');
  const [api1] = await d.servingPids('api');

  const webLoad = load(webPort);
  const apiLoad = load(apiPort);
  t.teardown(async () => { await webLoad.stop(); await apiLoad.stop(); });
  t.ok(await waitFor(() => webLoad.stats.ok > 50 && apiLoad.stats.ok > 50), 'load is flowing');

  await d.writeConfig(apps(2));
  const r = await d.ctl('reload', '--json');
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout).changed, ['web']);
  const [web2] = await d.servingPids('web');
  t.not(web2, web1);
  // Keep the load on through the old instance's drain and stop.
  t.ok(await waitFor(() => !alive(web1!)), 'the old instance exited');
  const okAfter = webLoad.stats.ok;
  t.ok(await waitFor(() => webLoad.stats.ok > okAfter + 100), 'the new instance serves');

  const web = await webLoad.stop();
  const api = await apiLoad.stop();
  t.equal(web.failed, 0, `no failed request on the restarted app (${web.ok} ok): ${web.errors.slice(0, 3).join('; ')}`);
  t.equal(api.failed, 0, `no failed request on the other app (${api.ok} ok): ${api.errors.slice(0, 3).join('; ')}`);
  t.ok(web.pids.has(String(web1)) && web.pids.has(String(web2)), 'the restarted app answered from the old and then the new instance');
  t.same([...api.pids], [String(api1)], 'the other app kept its one instance');
  t.comment(`web: ${web.ok} ok, api: ${api.ok} ok`);
});

