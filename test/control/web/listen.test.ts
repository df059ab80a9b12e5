// Where the dashboard listens, through the real gracevisord: a non-loopback address is a warning, an
// address it cannot bind leaves the daemon serving without it, and a reload moves it or turns it off.
import t from 'tap';
import { createServer } from 'node:net';
import { get } from '../../helpers/load.js';
import { ensureBuild, freePort, TestDaemon } from '../../cli/harness.js';

t.before(() => ensureBuild());
t.beforeEach((t) => t.setTimeout(120_000));

/** GET `path` on the dashboard at `port`: its status, or the connection error's code. */
async function dash(port: number, path = '/'): Promise<number | string> {
  return get(port, path).then((r) => r.status, (err: NodeJS.ErrnoException) => err.code ?? String(err));
}

t.test('a dashboard on a non-loopback address starts with a warning that names the address', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  await d.writeConfig([], `web:\n  listen: 0.0.0.0:${port}\n`);
  await d.start();
  const warn = await d.waitForEvent('web_not_loopback');
  t.equal(warn.level, 'WARN');
  t.equal(warn.fields.address, `0.0.0.0:${port}`);
  t.equal(await dash(port), 401, 'and it serves (the login form)');
});

t.test('a dashboard address already taken is logged with GV_ERR_WEB_LISTEN and the daemon serves without it', async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const taken = (blocker.address() as { port: number }).port;
  const d = await TestDaemon.create(t);
  const appPort = await freePort();
  await d.writeConfig([{ name: 'web', port: appPort }], `web:\n  listen: 127.0.0.1:${taken}\n`);
  await d.start();
  const failed = await d.waitForEvent('web_failed');
  t.equal(failed.fields.code, 'GV_ERR_WEB_LISTEN');
  await d.waitForEvent('daemon_ready');
  t.equal((await get(appPort)).status, 200, 'the app serves');
  t.equal(d.child?.exitCode, null, 'the daemon runs on');
});

t.test('a reload moves the dashboard to its new address, and one without web closes it', async (t) => {
  const d = await TestDaemon.create(t);
  const [first, second] = [await freePort(), await freePort()];
  await d.writeConfig([], `web:\n  listen: 127.0.0.1:${first}\n`);
  await d.start();
  await d.waitForEvent('web_listening');
  t.equal(await dash(first), 401, 'on the first address');

  await d.writeConfig([], `web:\n  listen: 127.0.0.1:${second}\n`);
  t.equal((await d.ctl('reload')).code, 0, 'reload');
  await d.waitForEvent('web_listening', { url: `http://127.0.0.1:${second}/` });
  t.equal(await dash(second), 401, 'on the second address');
  t.equal(await dash(first), 'ECONNREFUSED', 'the first is closed');

  await d.writeConfig([]);
  t.equal((await d.ctl('reload')).code, 0, 'reload without web');
  await d.waitForEvent('web_closed');
  t.equal(await dash(second), 'ECONNREFUSED', 'closed');
});
