// Item 5 of the reliability issue: a daemon that dies the moment an instance is spawned (a plugin's
// onInstanceStarting calls process.exit(42)) must have recorded that instance already, so that the
// next daemon on the same run_dir stops every process the dead one left. Run with --no-holder: under
// the holder a crash is recovered at once (test/cli/restartable.test.ts); this is the daemon alone.
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get } from '../helpers/load.js';
import { alive, Daemon, DEMO_CMD, events, port, setup, until, within, yamlApp } from './fixtures/lib.js';

setup(t);

t.test('--no-holder: a plugin that calls process.exit(42) as an instance starts: the daemon exits 42 and a fresh daemon recovers every instance it left, the starting one included', async (t) => {
  const d = Daemon.create(t);
  const marker = join(d.dir, 'exit-now');
  const plugin = join(d.dir, 'exit-plugin.mjs');
  writeFileSync(plugin, [
    "import { existsSync } from 'node:fs';",
    'export default {',
    "  name: 'test-exit-on-start',",
    '  apiVersion: 1,',
    '  hooks: {',
    '    onInstanceStarting() {',
    `      if (existsSync(${JSON.stringify(marker)})) process.exit(42);`,
    '    },',
    '  },',
    '};',
  ].join('\n') + '\n');
  const [pa, pb] = [await port(), await port()];
  const app = (name: string, p: number, instances: number): string =>
    yamlApp({ name, command: DEMO_CMD, healthcheck: '/health', external_host: '127.0.0.1', external_port: p, instances, stop_timeout: '5s' });
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop() + `plugins: [${JSON.stringify(plugin)}]\n` + 'apps:\n' + app('a', pa, 2) + app('b', pb, 1));
  await d.start(conf, { args: ['--no-holder'] });
  const servingA = await d.waitServing('a', 2);
  const servingB = await d.waitServing('b', 1);
  t.equal(servingA.length, 2, 'a has two instances');
  t.equal(servingB.length, 1, 'b has one');

  // The next spawn kills the daemon: a restart of b spawns its new instance, and the plugin exits.
  writeFileSync(marker, '');
  void d.ctl('restart', 'b');
  const exit = await within(d.exit!, 30_000);
  t.same(exit, { code: 42, signal: null }, 'the daemon died with 42');

  const state = JSON.parse(readFileSync(join(d.runDir, 'state.json'), 'utf8')) as { instances: { app: string; pid: number; pgid: number }[] };
  const left = state.instances.map((i) => i.pid);
  for (const p of left) d.remember(p);
  t.comment(`state.json lists ${left.length} instances: ${state.instances.map((i) => `${i.app}:${i.pid}`).join(', ')}`);
  const starting = left.filter((p) => ![...servingA, ...servingB].includes(p));
  t.equal(starting.length, 1, 'state.json lists the instance that was starting when the daemon died');
  t.same([...left].sort(), [...servingA, ...servingB, ...starting].sort(), 'and every serving one');
  for (const p of starting) t.ok(alive(p), `the starting instance ${p} was left running (an orphan until recovered)`);

  // A fresh daemon on the same config and run_dir.
  rmSync(marker);
  await d.start(conf, { args: ['--no-holder'] });
  // The control socket answers before the apps start; recovery comes first in the start.
  t.ok(await until(() => events(d.output, 'daemon_ready').length > 0, 30_000), 'the new daemon is ready (event=daemon_ready)');
  const recovered = events(d.output, 'recovered_instance');
  t.comment(recovered.map((l) => l.raw.replace(/^\S+ /, '')).join('\n'));
  t.same(recovered.map((l) => Number(l.fields.pid)).sort(), [...left].sort(), 'event=recovered_instance for each pid the dead daemon left');
  for (const p of left) t.ok(await until(() => !alive(p), 10_000), `pid ${p} is gone`);
  const nowA = await d.waitServing('a', 2);
  const nowB = await d.waitServing('b', 1);
  t.equal(nowA.length + nowB.length, 3, 'the new daemon runs every app again');
  t.notOk([...nowA, ...nowB].some((p) => left.includes(p)), 'with new instances');
  t.equal((await get(pa, '/')).status, 200, 'a serves');
  t.equal((await get(pb, '/')).status, 200, 'b serves');
});
