import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alive, ensureBuild, freePort, TestDaemon, waitFor } from './harness.js';

t.before(() => ensureBuild());

t.test('an app instance that crashes is replaced and the daemon keeps running', async (t) => {
  const d = await TestDaemon.create(t);
  await d.writeConfig([{ name: 'web', port: await freePort() }, { name: 'api', port: await freePort() }]);
  await d.start();
  const [pid] = await d.servingPids('web');
  const [apiPid] = await d.servingPids('api');
  process.kill(pid!, 'SIGKILL');
  t.ok(await waitFor(async () => {
    const pids = await d.servingPids('web');
    return pids.length === 1 && pids[0] !== pid;
  }), 'a replacement instance serves');
  t.equal(d.child!.exitCode, null, 'the daemon is still running');
  t.same(await d.servingPids('api'), [apiPid], 'the other app was not touched');
});

t.test('a second SIGTERM during a slow shutdown kills every instance and exits 1', async (t) => {
  const d = await TestDaemon.create(t);
  // An app that ignores SIGTERM, with a long stop_timeout: a graceful shutdown would take a minute.
  const stubborn = join(d.dir, 'stubborn.mjs');
  await writeFile(stubborn, [
    "import { createServer } from 'node:http';",
    "process.on('SIGTERM', () => console.log('ignoring SIGTERM'));",
    "createServer((q, s) => s.end('ok')).listen(Number(process.argv[2]), '127.0.0.1');",
  ].join('\n'));
  await d.writeConfig([{ name: 'slow', port: await freePort(), command: `${process.execPath} ${stubborn} {port}`, stopTimeout: '60s' }]);
  await d.start();
  const [pid] = await d.servingPids('slow');
  d.child!.kill('SIGTERM');
  t.ok(await waitFor(() => d.output.includes('SIGTERM: shutting down')), 'graceful shutdown began');
  // Let the app receive its SIGTERM and ignore it.
  await new Promise((r) => setTimeout(r, 500));
  t.ok(alive(pid!), 'the stubborn instance is still there');
  d.child!.kill('SIGTERM');
  const exit = await d.exit!;
  t.same(exit, { code: 1, signal: null }, 'forced exit is status 1');
  t.ok(await waitFor(() => !alive(pid!)), 'no instance left running');
});
