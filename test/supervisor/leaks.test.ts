import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { NODE_BARE, REPO, writeConfig } from '../helpers/config.js';
import { freePort, portFree } from '../helpers/ports.js';
import { startSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';

// A regression that makes something here hang fails with the test's name, not at tap's timeout.
t.beforeEach((t) => t.setTimeout(300_000));

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

function fds(): number {
  return readdirSync('/proc/self/fd').length;
}

async function heap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

t.test('300 restarts in a row release every port and keep the daemon’s fds and memory flat', async (t) => {
  const dir = tempDir(t);
  const app = {
    name: 'tiny',
    command: `${NODE_BARE} ${join(REPO, 'test/fixtures/apps/tiny.mjs')} --port={port}`,
    internal_host: '127.0.0.1',
    external_host: '127.0.0.1',
    external_port: await freePort(),
    proxy: 'tcp',
    drain_timeout: '2s',
    stop_timeout: '2s',
  };
  const cfg = await writeConfig(dir, [app], {}, 20);
  const sup = await startSupervisor(t, cfg.file);
  for (let i = 0; i < 20; i++) await sup.restartApp('tiny'); // warm up caches, JIT, log streams
  const fd0 = fds();
  const heap0 = await heap();
  let failed = 0;
  for (let i = 0; i < 300; i++) {
    const r = await sup.restartApp('tiny');
    if (!r.ok) failed++;
  }
  await sup.stateFile.flush();
  const fd1 = fds();
  const heap1 = await heap();
  t.equal(failed, 0, 'every restart succeeded');
  t.equal(sup.ports.inUse.length, 1, 'the pool holds only the serving instance’s port');
  const serving = sup.status('tiny')[0]!.instances[0]!.port;
  const free = [];
  for (let p = cfg.portRange.from; p <= cfg.portRange.to; p++) if (p !== serving) free.push(await portFree(p));
  t.ok(free.every(Boolean), 'every other port of the range binds');
  t.equal(sup.stateFile.records().length, 1, 'the state file records one live instance');
  t.ok(fd1 <= fd0 + 4, `fds flat: ${fd0} -> ${fd1}`);
  // Generous: the heap may wander a little with JIT and buffers; a leak per restart would add megabytes.
  t.ok(heap1 < heap0 * 1.5 + 4 * 1024 * 1024, `heap flat: ${(heap0 / 1e6).toFixed(1)} MB -> ${(heap1 / 1e6).toFixed(1)} MB`);
});
