// Item 16 of the reliability issue: the run dir's files are the daemon user's only, and a flood of
// refused control requests cannot flood the log (repeats are folded into a count).
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { Daemon, DEMO_CMD, events, GRACEVISORCTL, modeOf, port, runBounded, setup } from './fixtures/lib.js';

setup(t);

/** GET /v1/status over TCP with a wrong token; the status and the error code of the body. */
function refused(agent: Agent, p: number): Promise<{ status: number; code: string | null }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: p, path: '/v1/status', agent, headers: { authorization: 'Bearer not-the-token' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let code: string | null = null;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, code: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end();
  });
}

t.test('state file, lock and generated token are 0600, and 500 wrong-token control requests log a handful of control_refused lines and a repeated= count', async (t) => {
  const d = Daemon.create(t);
  const rpcPort = await port();
  // Files an older version left with 0644 must come out 0600 too.
  mkdirSync(d.runDir, { recursive: true });
  writeFileSync(join(d.runDir, 'state.json'), '{"instances":[]}\n', { mode: 0o644 });
  writeFileSync(join(d.runDir, 'control.token'), 'stale\n', { mode: 0o644 });
  const conf = join(d.dir, 'gracevisor.yaml');
  writeFileSync(conf, d.yamlTop({ rpc: ['host: 127.0.0.1', `port: ${rpcPort}`] }) + 'apps:\n' + [
    '  - name: web',
    `    command: ${DEMO_CMD}`,
    '    healthcheck: /health',
    '    external_host: 127.0.0.1',
    `    external_port: ${await port()}`,
    '    stop_timeout: 5s',
  ].join('\n') + '\n');
  await d.start(conf);
  await d.waitServing('web');

  const token = readFileSync(join(d.runDir, 'control.token'), 'utf8').trim();
  t.not(token, 'stale', 'a fresh token was generated');
  for (const f of ['state.json', 'gracevisord.lock', 'control.token']) {
    t.equal(modeOf(join(d.runDir, f)).toString(8), '600', `${f} is mode 0600`);
  }
  const state = JSON.parse(readFileSync(join(d.runDir, 'state.json'), 'utf8')) as { instances: unknown[] };
  t.equal(state.instances.length, 1, 'state.json records the running instance');

  // The real gracevisorctl over TCP with the right token works, and with a wrong one is refused.
  const ok = await runBounded(process.execPath, [GRACEVISORCTL, '--host', '127.0.0.1', '--port', String(rpcPort), '--token', token, 'status', '--json']);
  t.equal(ok.code, 0, 'status over TCP with the token');
  const bad = await runBounded(process.execPath, [GRACEVISORCTL, '--host', '127.0.0.1', '--port', String(rpcPort), '--token', 'not-the-token', 'status', '--json']);
  t.equal(bad.code, 1, 'a wrong token: exit 1');
  t.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'GV_ERR_CONTROL_UNAUTHORIZED', 'GV_ERR_CONTROL_UNAUTHORIZED');

  // 500 more, 10 keep-alive connections at a time.
  const N = 500;
  const agent = new Agent({ keepAlive: true, maxSockets: 10 });
  const results = await Promise.all(Array.from({ length: N }, () => refused(agent, rpcPort)));
  agent.destroy();
  const statuses = results.reduce<Record<string, number>>((m, r) => ((m[`${r.status} ${r.code}`] = (m[`${r.status} ${r.code}`] ?? 0) + 1), m), {});
  t.comment(`${N} wrong-token requests: ${JSON.stringify(statuses)}`);
  t.equal(results.filter((r) => r.status === 401 && r.code === 'GV_ERR_CONTROL_UNAUTHORIZED').length, N, 'every one refused with 401 GV_ERR_CONTROL_UNAUTHORIZED');
  t.ok(d.running, 'the daemon runs on');

  // The fold is written at the window's end or at close: stop the daemon and read what it logged.
  const e = await d.stop('SIGTERM', 30_000);
  t.same(e && e.code, 0, 'the daemon stopped cleanly');
  for (const [where, text] of [['stderr', d.stderr], ['log file', d.logFile()]] as const) {
    const lines = events(text, 'control_refused');
    const plain = lines.filter((l) => l.fields.repeated === undefined);
    const folded = lines.filter((l) => l.fields.repeated !== undefined);
    const counted = plain.length + folded.reduce((n, l) => n + Number(l.fields.repeated), 0);
    t.comment(`${where}: ${lines.length} control_refused lines (${plain.length} plain, ${folded.length} with repeated=${folded.map((l) => l.fields.repeated).join('+')}); they account for ${counted} requests`);
    // Five lines per message per 10 s window, then a count; a burst that straddles a window's end
    // gets a second five and a second count.
    t.ok(folded.length >= 1 && folded.length <= 2, `${where}: one line (two at a window boundary) with a repeated= count`);
    t.ok(plain.length <= 5 * Math.max(1, folded.length) + 1, `${where}: at most ~6 plain control_refused lines per window (${plain.length})`);
    t.equal(counted, N + 1, `${where}: the lines and counts add up to every refused request (${N} + the gracevisorctl one)`);
  }
});
