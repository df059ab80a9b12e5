// Alerts through the real daemon: a local webhook server, an exec script, a hanging endpoint, a crash
// loop, `gracevisorctl alerts test`, and alerter plugins that throw.
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ensureBuild, freePort, TestDaemon, waitFor } from '../cli/harness.js';

t.before(() => ensureBuild());

const BEHAVE = join(import.meta.dirname, '..', 'fixtures', 'apps', 'behave.mjs');
const NODE = `/usr/bin/env -u NODE_OPTIONS ${process.execPath}`;

/** A local webhook endpoint that records every JSON body; `hang` makes it never answer. */
async function hookServer(t: Tap.Test, opts: { hang?: boolean } = {}): Promise<{ url: string; bodies: any[] }> {
  const bodies: any[] = [];
  const pending = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      bodies.push(JSON.parse(b));
      if (opts.hang) pending.add(res);
      else res.end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => { for (const p of pending) p.destroy(); server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

/** A behave app whose mode file the test flips (ok | exit | …). */
function behave(d: TestDaemon, name: string, port: number, extra: string[] = []) {
  const mode = join(d.dir, `${name}.mode`);
  writeFileSync(mode, 'ok');
  return { app: { name, port, command: `${NODE} ${BEHAVE} --port={port}`, extra: [`environment: ["GV_MODE_FILE=${mode}"]`, 'start_timeout: 5s', ...extra] }, mode };
}

t.test('a webhook gets restart_failed with the probe detail and the new instance\'s stderr, while the old one keeps serving', async (t) => {
  const hook = await hookServer(t);
  const d = await TestDaemon.create(t);
  const port = await freePort();
  const { app, mode } = behave(d, 'web', port, ['max_retries: 0']);
  await d.writeConfig([app], ['alerts:', '  - type: webhook', `    url: ${hook.url}`].join('\n'));
  await d.start();
  const [oldPid] = await d.servingPids('web');
  writeFileSync(mode, 'exit');
  const r = await d.ctl('restart', 'web');
  t.equal(r.code, 1, 'the restart fails');
  t.ok(await waitFor(() => hook.bodies.some((b) => b.event === 'restart_failed')), 'the webhook got it');
  const alert = hook.bodies.find((b) => b.event === 'restart_failed');
  t.match(alert, { event: 'restart_failed', app: 'web', error: { code: 'GV_ERR_START_FAILED' }, detail: 'exited with code 3' });
  t.match(alert.instance, /^web#\d+$/);
  t.ok(alert.stderr.some((l: string) => l.includes('exiting at start as told')), 'the last stderr lines of the new instance');
  t.ok(!Number.isNaN(Date.parse(alert.at)), 'at is an ISO time');
  t.same(await d.servingPids('web'), [oldPid], 'the old instance keeps serving');
  t.ok(await waitFor(() => hook.bodies.some((b) => b.event === 'app_fatal')), 'max_retries 0: app_fatal follows');
});

t.test('the exec alerter runs its command with the alert as JSON on stdin', async (t) => {
  const d = await TestDaemon.create(t);
  const out = join(d.dir, 'alerts.jsonl');
  const script = join(d.dir, 'notify.mjs');
  writeFileSync(script, `import { appendFileSync } from 'node:fs';\nlet s = '';\nprocess.stdin.on('data', (c) => (s += c));\nprocess.stdin.on('end', () => appendFileSync(${JSON.stringify(out)}, JSON.stringify({ env: process.env.GV_EVENT, app: process.env.GV_APP, body: JSON.parse(s) }) + '\\n'));\n`);
  const { app, mode } = behave(d, 'api', await freePort(), ['max_retries: 0']);
  await d.writeConfig([{ ...app, extra: [...app.extra!, 'alerts:', '  - type: exec', `    command: ${NODE} ${script}`, '    events: [restart_failed]'] }]);
  await d.start();
  writeFileSync(mode, 'exit');
  await d.ctl('restart', 'api');
  t.ok(await waitFor(() => { try { return readFileSync(out, 'utf8').length > 0; } catch { return false; } }), 'the script ran');
  const got = JSON.parse(readFileSync(out, 'utf8').trim().split('\n')[0]!);
  t.match(got, { env: 'restart_failed', app: 'api', body: { event: 'restart_failed', app: 'api', error: { code: 'GV_ERR_START_FAILED' } } });
});

t.test('a webhook endpoint that hangs or is down delays no restart', async (t) => {
  const hanging = await hookServer(t, { hang: true });
  const d = await TestDaemon.create(t);
  const down = `http://127.0.0.1:${await freePort()}/nobody`;
  const { app } = behave(d, 'web', await freePort());
  await d.writeConfig([app], ['alerts:', '  - type: webhook', `    url: ${hanging.url}`, '    events: [restart_succeeded]', '    timeout: 60s', '  - type: webhook', `    url: ${down}`, '    events: [restart_succeeded]'].join('\n'));
  await d.start();
  const durations: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await d.ctl('restart', 'web', '--json');
    t.equal(r.code, 0, r.stderr);
    durations.push(JSON.parse(r.stdout).durationMs);
  }
  t.ok(await waitFor(() => hanging.bodies.length >= 1), 'the hanging endpoint was sent the first alert');
  t.comment(`restart durations with a hanging and a dead webhook: ${durations.join(', ')} ms`);
  // The hanging endpoint would hold each restart for its 60 s timeout if delivery were in the way.
  t.ok(durations.every((ms) => ms < 20_000), 'every restart finished long before the webhook timeout');
  t.equal((await d.status('web'))[0].state, 'running');
});

t.test('a crash loop sends one alert per interval, with the rest folded into a count', async (t) => {
  const hook = await hookServer(t);
  const d = await TestDaemon.create(t);
  const { app, mode } = behave(d, 'loop', await freePort(), ['max_retries: 20']);
  await d.writeConfig([app], ['alerts:', '  - type: webhook', `    url: ${hook.url}`, '    events: [restart_failed]', '    interval: 2s'].join('\n'));
  await d.start();
  writeFileSync(mode, 'exit');
  await d.ctl('restart', 'loop');
  // The backoff of the test daemon starts at 500 ms: several failures land in the first interval.
  t.ok(await waitFor(() => hook.bodies.some((b) => typeof b.folded === 'number' && b.folded > 0), 20_000), 'a folded alert came');
  const failures = hook.bodies.filter((b) => b.event === 'restart_failed');
  t.equal(failures[0].folded, undefined, 'the first one went out at once');
  t.ok(failures[1].folded >= 1, `the next carried the count (${failures[1].folded})`);
  await d.ctl('stop', 'loop');
});

t.test('alerts test delivers through every route and exits 1 when one fails', async (t) => {
  const hook = await hookServer(t);
  const d = await TestDaemon.create(t);
  const { app } = behave(d, 'web', await freePort());
  const down = `http://127.0.0.1:${await freePort()}/nobody`;
  await d.writeConfig([{ ...app, extra: [...app.extra!, 'alerts:', '  - type: webhook', `    url: ${down}`, '    retries: 0', '    timeout: 2s'] }], ['alerts:', '  - type: webhook', `    url: ${hook.url}`].join('\n'));
  await d.start();
  const global = await d.ctl('alerts', 'test', '--json');
  t.equal(global.code, 0, global.stderr);
  t.match(JSON.parse(global.stdout), [{ route: 'global[0]', type: 'webhook', ok: true }]);
  t.ok(hook.bodies.some((b) => b.event === 'test'), 'the endpoint got a test event');
  const forApp = await d.ctl('alerts', 'test', 'web', '--json');
  t.equal(forApp.code, 1, 'one of the app\'s routes is down');
  const results = JSON.parse(forApp.stdout);
  t.same(results.map((r: any) => [r.route, r.ok]).sort(), [['global[0]', true], ['web[0]', false]]);
  const plugins = JSON.parse((await d.ctl('plugins', 'list', '--json')).stdout);
  t.same(plugins.find((p: any) => p.id === 'alerters.webhook').usedBy.sort(), ['global[0]', 'web[0]'], 'plugins list shows which alerters are configured');
  const missing = await d.ctl('alerts', 'test', 'nope');
  t.equal(missing.code, 1);
  t.match(missing.stderr, /GV_ERR_APP_NOT_FOUND/);
});

t.test('an alerter plugin that throws in create or at delivery is logged and isolated; the daemon keeps serving', async (t) => {
  const d = await TestDaemon.create(t);
  const plugin = join(d.dir, 'bad-alerters.mjs');
  writeFileSync(plugin, `export default { name: 'bad-alerters', apiVersion: 1, alerters: {
    brokenCreate: { description: 'throws in create', create() { throw new Error('create exploded'); } },
    brokenSend: { description: 'throws in send', create() { return { send() { throw new Error('send exploded'); } }; } },
  } };\n`);
  const { app, mode } = behave(d, 'web', await freePort(), ['max_retries: 0']);
  await d.writeConfig([app], [`plugins: [${plugin}]`, 'alerts:', '  - type: brokenCreate', '  - type: brokenSend', '    retries: 1'].join('\n'));
  await d.start();
  writeFileSync(mode, 'exit');
  await d.ctl('restart', 'web');
  t.ok(await waitFor(() => /event=alert_failed.*error="send exploded"/.test(d.output)), 'the failed delivery is logged');
  t.match(d.output, /event=alert_failed route=global\[0\] type=brokenCreate plugin=bad-alerters/, 'the failed create is logged with the plugin');
  t.equal(d.child!.exitCode, null, 'the daemon is running');
  const r = await d.ctl('status', 'web', '--json');
  t.equal(r.code, 0, 'status: the old instance still serves, so the app runs');
});
