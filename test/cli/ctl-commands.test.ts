import t from 'tap';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { BEHAVE, GRACEVISORCTL, NODE_BARE, alive, appFileYaml, ensureBuild, freePort, run, TestDaemon, waitFor } from './harness.js';

// One daemon for the whole file; every test below drives it in turn, in order.
let d: TestDaemon;
let webPort: number;
let apiPort: number;

// A regression that makes a command or the daemon hang fails here, with the test's name.
t.beforeEach((t) => t.setTimeout(120_000));

t.before(async () => {
  ensureBuild();
  d = await TestDaemon.create(t);
  webPort = await freePort();
  apiPort = await freePort();
  await d.writeConfig([{ name: 'web', port: webPort }, { name: 'api', port: apiPort }]);
  await d.start();
});

async function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  const res = await request(`http://127.0.0.1:${port}${path}`, { reset: true });
  return { status: res.statusCode, body: await res.body.text() };
}

t.test('the control socket is mode 0600', async (t) => {
  t.equal((await stat(d.socket)).mode & 0o777, 0o600);
});

t.test('status prints a table per app with address, engine, instances and counters', async (t) => {
  await get(webPort);
  const r = await d.ctl('status');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^web  http on 127\\.0\\.0\\.1:${webPort}  running .*requests \\d+`, 'm'));
  t.match(r.stdout, new RegExp(`^api  http on 127\\.0\\.0\\.1:${apiPort}  running`, 'm'));
  t.match(r.stdout, /^\s+INSTANCE\s+PID\s+PORT\s+STATE\s+SINCE\s+UPTIME\s+CPU\s+RSS\s+IN FLIGHT\s+HANDLED\s+LAST ERROR$/m);
  t.match(r.stdout, /^\s+\*\s+web#\d+\s+\d+\s+\d+\s+serving\s+\S+\s+\S+\s+[\d.]+s\s+[\d.]+[KMG]\s+0\s+[1-9]\d*\s+-$/m, 'the active instance is marked, with its usage and counters');
});

t.test('status --json and status APP --json give the data', async (t) => {
  const all = JSON.parse((await d.ctl('status', '--json')).stdout);
  t.same(all.map((a: any) => a.name).sort(), ['api', 'web']);
  const one = JSON.parse((await d.ctl('status', 'web', '--json')).stdout);
  t.equal(one.length, 1);
  t.equal(one[0].address, `127.0.0.1:${webPort}`);
  t.equal(one[0].engine, 'http');
  t.equal(one[0].instances[0].state, 'serving');
  t.equal(one[0].instances[0].active, true);
  t.ok(one[0].instances[0].port >= d.range.from && one[0].instances[0].port <= d.range.to, 'internal port from port_range');
  t.type(one[0].stats.requests, 'number');
});

t.test('an unknown app fails with GV_ERR_APP_NOT_FOUND and exit 1', async (t) => {
  for (const cmd of [['status', 'nope'], ['restart', 'nope'], ['stop', 'nope'], ['start', 'nope'], ['kill', 'nope'], ['remove', 'nope'], ['logs', 'nope']]) {
    const r = await d.ctl(...cmd);
    t.equal(r.code, 1, `${cmd.join(' ')} exits 1`);
    t.match(r.stderr, /^gracevisorctl: GV_ERR_APP_NOT_FOUND: /, `${cmd.join(' ')} names the code`);
  }
  const j = await d.ctl('restart', 'nope', '--json');
  t.equal(JSON.parse(j.stdout).error.code, 'GV_ERR_APP_NOT_FOUND', '--json puts the error on stdout too');
});

t.test('usage errors exit 2', async (t) => {
  t.equal((await d.ctl('restart')).code, 2, 'restart needs APP or --all');
  t.equal((await d.ctl('restart', 'web', '--all')).code, 2);
  t.equal((await d.ctl('frobnicate')).code, 2);
  t.equal((await d.ctl('logs', 'web', '-n', 'many')).code, 2);
  t.equal((await run(process.execPath, [GRACEVISORCTL, '--host', '127.0.0.1', 'status'])).code, 2, '--host needs --port');
});

t.test('restart APP replaces the instance and the old pid goes away', async (t) => {
  const [oldPid] = await d.servingPids('web');
  const r = await d.ctl('restart', 'web', '--json');
  t.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  t.equal(result.ok, true);
  t.equal(result.app, 'web');
  const [newPid] = await d.servingPids('web');
  t.not(newPid, oldPid);
  t.ok(await waitFor(() => !alive(oldPid!)), 'old instance exited');
  t.match((await get(webPort)).body, `pid=${newPid}`);
  const human = await d.ctl('restart', 'web');
  t.match(human.stdout, /^web: restarted in \d+ms/);
});

t.test('restart --all restarts every app', async (t) => {
  const r = await d.ctl('restart', '--all', '--json');
  t.equal(r.code, 0, r.stderr);
  const results = JSON.parse(r.stdout);
  t.same(results.map((x: any) => x.app).sort(), ['api', 'web']);
  t.ok(results.every((x: any) => x.ok));
  await d.recordPids();
});

t.test('stop drains and stops; the public port answers 503; start brings it back', async (t) => {
  const [pid] = await d.servingPids('api');
  const stop = await d.ctl('stop', 'api', '--json');
  t.equal(stop.code, 0, stop.stderr);
  t.equal(JSON.parse(stop.stdout).state, 'stopped');
  t.ok(await waitFor(() => !alive(pid!)), 'instance exited');
  t.equal((await get(apiPort)).status, 503);
  const start = await d.ctl('start', 'api');
  t.equal(start.code, 0, start.stderr);
  t.match(start.stdout, /^api: running/);
  t.equal((await get(apiPort)).status, 200);
  await d.recordPids();
});

t.test('kill SIGKILLs every instance of the app', async (t) => {
  const [pid] = await d.servingPids('api');
  const r = await d.ctl('kill', 'api');
  t.equal(r.code, 0, r.stderr);
  t.ok(await waitFor(() => !alive(pid!)), 'instance is gone');
  const [a] = await d.status('api');
  t.notOk(a.instances.some((i: any) => i.pid === pid && i.state === 'serving'));
  await d.ctl('start', 'api');
  await d.recordPids();
});

t.test('logs prints the last lines, --stderr the other stream, -f follows new output', async (t) => {
  const r = await d.ctl('logs', 'web', '-n', '2');
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines.length, 2);
  t.match(r.stdout, /demoapp pid=\d+/);

  // An app that writes to both streams (the demo app writes nothing to stderr).
  const port = await freePort();
  const file = join(d.dir, 'chatty.yaml');
  await writeFile(file, appFileYaml({ name: 'chatty', port, command: `${NODE_BARE} ${BEHAVE} --port={port}` }));
  t.equal((await d.ctl('add', file)).code, 0);
  t.teardown(() => d.ctl('remove', 'chatty'));
  t.equal((await get(port, '/print?n=3&tag=hello&pad=0')).status, 200);
  const logs = async (...args: string[]): Promise<string[]> => {
    const x = await d.ctl('logs', 'chatty', '-n', '20', ...args);
    t.equal(x.code, 0, x.stderr);
    return x.stdout.split('\n').filter((l) => / hello/.test(l));
  };
  let err: string[] = [];
  t.ok(await waitFor(async () => (err = await logs('--stderr')).length === 3), '--stderr prints the three stderr lines');
  t.same(err.map((l) => / err (hello-err \d) /.exec(l)?.[1]), ['hello-err 0', 'hello-err 1', 'hello-err 2'], 'the stderr lines, in order, each marked err');
  t.same(err.filter((l) => / out hello /.test(l)), [], 'no stdout line in --stderr');
  const out = await logs('--stdout');
  t.same(out.map((l) => / out (hello \d) /.exec(l)?.[1]), ['hello 0', 'hello 1', 'hello 2'], '--stdout: the stdout lines');
  t.same(out.filter((l) => l.includes('hello-err')), [], 'and no stderr line');
  const both = await logs();
  t.same(both.map((l) => / (out|err) (hello(-err)? \d) /.exec(l)?.[2]).sort(), ['hello 0', 'hello 1', 'hello 2', 'hello-err 0', 'hello-err 1', 'hello-err 2'], 'neither: both streams, merged');

  // -f: the last line first (so the follower is seen attached), then what comes after.
  const follower = d.spawnCtl('logs', 'web', '-f', '-n', '1');
  let followed = '';
  follower.stdout!.on('data', (c) => (followed += c));
  t.ok(await waitFor(() => followed.includes('\n')), 'the follower printed the last line: it is attached');
  await d.ctl('restart', 'web');
  const [newPid] = await d.servingPids('web');
  t.ok(await waitFor(() => followed.includes(`demoapp pid=${newPid} listening`)), 'the new instance\'s first line arrives');
  follower.kill('SIGINT');
  const code = await new Promise((r) => follower.on('exit', (c) => r(c)));
  t.equal(code, 0, 'Ctrl-C ends logs -f with exit 0');
});

t.test('plugins list shows ids, plugins, users, availability and descriptions', async (t) => {
  const r = await d.ctl('plugins', 'list');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^ID\s+PLUGIN\s+USED BY\s+AVAILABLE\s+DESCRIPTION$/m);
  t.match(r.stdout, /^engines\.http\s+gracevisor:engines\s+(api,web|web,api)\s+yes\s+\S.*$/m);
  const j = JSON.parse((await d.ctl('plugins', 'list', '--json')).stdout);
  const ids = j.map((e: any) => e.id);
  for (const id of ['engines.http', 'engines.http_js', 'engines.tcp', 'healthchecks.http']) t.ok(ids.includes(id), `${id} listed`);
  // Which implementation serves engines.http: the native plane where its addon built (it does wherever
  // the splice one does: the same compiler builds both), else the JavaScript engine, with the reason.
  const http = j.find((e: any) => e.id === 'engines.http');
  const splice = j.find((e: any) => e.id === 'engines.splice');
  if (splice.available) t.match(http.description, /\(native data plane\)$/, 'engines.http says it is the native data plane');
  else t.match(http.description, /\(JavaScript: the native data plane is unavailable: .+\)$/, 'engines.http says it is JavaScript, and why');
  t.ok(j.every((e: any) => typeof e.available === 'boolean' && 'reason' in e));
});

t.test('version prints both versions', async (t) => {
  const r = await d.ctl('version');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^gracevisorctl \d+\.\d+\.\d+\ngracevisord \d+\.\d+\.\d+ \(node v\d+/);
  const j = JSON.parse((await d.ctl('version', '--json')).stdout);
  // The process started is gracevisord's holder; the daemon answering runs beside it.
  t.equal(j.gracevisord.holder, d.child!.pid);
  t.not(j.gracevisord.pid, d.child!.pid);
  t.equal(j.gracevisorctl, j.gracevisord.version);
});

t.test('add FILE starts a new app and remove APP stops it and closes its port', async (t) => {
  const port = await freePort();
  const file = join(d.dir, 'extra.yaml');
  await writeFile(file, appFileYaml({ name: 'extra', port }));
  // A relative path is resolved by gracevisorctl against its own working folder.
  const r = await run(process.execPath, [GRACEVISORCTL, '--socket', d.socket, 'add', 'extra.yaml', '--json'], { cwd: d.dir });
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).name, 'extra');
  t.equal((await get(port)).status, 200);
  const pids = await d.servingPids('extra');
  const again = await d.ctl('add', file);
  t.equal(again.code, 1, 'adding it twice fails');
  t.match(again.stderr, /GV_ERR_APP_EXISTS|GV_ERR_CONFIG_DUPLICATE_APP/);
  const rm = await d.ctl('remove', 'extra');
  t.equal(rm.code, 0, rm.stderr);
  t.match(rm.stdout, /^extra: removed/);
  t.ok(await waitFor(() => pids.every((p) => !alive(p))), 'its instance exited');
  await t.rejects(get(port), 'its port is closed');
  t.equal((await d.ctl('status', 'extra')).code, 1);
});

t.test('add of a broken file reports file:line:col and adds nothing', async (t) => {
  const file = join(d.dir, 'broken.yaml');
  await writeFile(file, 'name: broken\ncommand: no-port-here\n');
  const r = await d.ctl('add', file);
  t.equal(r.code, 1);
  // `command: no-port-here` on line 2: the value starts at column 10.
  t.match(r.stderr, `${file}:2:10: GV_ERR_CONFIG_PORT_PLACEHOLDER: `);
  t.equal((await d.ctl('status', 'broken')).code, 1);
});

t.test('SIGTERM stops every app, exits 0 and removes the socket; then the daemon is unreachable', async (t) => {
  await d.recordPids();
  const pids = [...d.seenPids];
  // A `logs -f` left running ends with the daemon instead of hanging.
  const follower = d.spawnCtl('logs', 'web', '-f');
  const followerExit = new Promise((r) => follower.on('exit', (c) => r(c)));
  await new Promise((r) => follower.stdout!.once('data', r));
  d.child!.kill('SIGTERM');
  const exit = await d.exited();
  t.same(exit, { code: 0, signal: null }, 'clean exit 0');
  t.equal(await followerExit, 0, 'logs -f ended with the daemon');
  t.ok(await waitFor(() => pids.every((p) => !alive(p))), 'no app instance left running');
  await t.rejects(stat(d.socket), { code: 'ENOENT' });
  const r = await d.ctl('status');
  t.equal(r.code, 1);
  t.match(r.stderr, /^gracevisorctl: GV_ERR_CONTROL_UNREACHABLE: .*ctl\.sock/);
  const j = await d.ctl('status', '--json');
  t.equal(JSON.parse(j.stdout).error.code, 'GV_ERR_CONTROL_UNREACHABLE');
});
