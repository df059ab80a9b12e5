// Found by item 17's harness: a V8 heap or stack flag on node's own command line
// (`node --max-old-space-size=N gracevisord.js …`, as a systemd unit or the hostile-input harness
// runs it) must not break the config reader. The reader worker is started with the process's
// execArgv, and Node refuses a worker whose execArgv holds such a flag (ERR_WORKER_INVALID_EXEC_ARGV),
// so today every config load fails with GV_ERR_INTERNAL and the daemon cannot start at all.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get } from '../helpers/load.js';
import { check, Daemon, DEMO_CMD, port, setup, tempDir, until, within } from './fixtures/lib.js';

setup(t);

t.test('`node --max-old-space-size=256 gracevisord.js --check` of a valid config says configuration ok', async (t) => {
  const dir = tempDir(t);
  const conf = join(dir, 'ok.yaml');
  writeFileSync(conf, 'apps:\n  - name: web\n    command: node app.mjs --port={port}\n');
  const r = await check(conf, { argvFlag: true, maxOldMb: 256 });
  t.comment(`exit ${r.code}; codes: ${r.problems.map((p) => p.code).join(', ') || 'none'}`);
  t.same(r.problems.map((p) => p.code), [], 'no problem');
  t.equal(r.code, 0, 'exit 0');
  t.equal(r.stdout, 'configuration ok\n');
});

t.test('`node --max-old-space-size=512 gracevisord.js --conf …` starts and serves', async (t) => {
  const d = Daemon.create(t);
  const p = await port();
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + 'apps:\n' + [
    '  - name: web',
    `    command: ${DEMO_CMD}`,
    '    healthcheck: /health',
    '    external_host: 127.0.0.1',
    `    external_port: ${p}`,
  ].join('\n') + '\n');
  await d.start(conf, { nodeArgs: ['--max-old-space-size=512'], wait: false });
  let up: number[] = [];
  await until(async () => !d.running || (up = await d.serving('web').catch(() => [])).length === 1, 30_000, 100);
  const exited = await within(d.exit!, 10);
  t.comment(exited ? `the daemon exited ${JSON.stringify(exited)}: ${d.stderr.trim().split('\n')[0]}` : 'the daemon is running');
  t.equal(exited, null, 'the daemon did not exit');
  t.equal(up.length, 1, 'web serves');
  if (up.length === 1) t.equal((await get(p, '/')).status, 200, 'through its public port');
});
