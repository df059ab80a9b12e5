// The operator's habits, driven through the real binaries: batches (`restart web api`, `all`,
// `--all`), status exit codes, progress on a terminal (a real pty from script(1)) and `--quiet`,
// `status --watch`, read-only commands when the config does not parse, suggestions, help with named
// placeholders, shell completion with app names, logs merged and marked, and a second daemon that
// leaves the first one's log alone.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { track } from '../helpers/registry.js';
import { BEHAVE, GRACEVISORCTL, GRACEVISORD, NODE_BARE, TestDaemon, ensureBuild, freePort, run, waitFor, type CtlResult } from './harness.js';

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/** A shell word. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** gracevisorctl on a terminal: script(1) gives it a pty; its output comes back with \r\n. */
function onTty(d: TestDaemon, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CtlResult> {
  const cmd = [process.execPath, GRACEVISORCTL, '--socket', d.socket, ...args].map(q).join(' ');
  return run('script', ['-qefc', cmd, '/dev/null'], { env, timeoutMs: 60_000 }).then((r) => ({ ...r, stdout: r.stdout.replace(/\r\n/g, '\n') }));
}

/** GET a path through the app's public port; resolves with the status (or the error code). */
function get(port: number, path = '/'): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

async function twoApps(t: Tap.Test): Promise<{ d: TestDaemon; web: number; api: number }> {
  const d = await TestDaemon.create(t);
  const web = await freePort();
  const api = await freePort();
  await d.writeConfig([
    { name: 'web', port: web, command: `${NODE_BARE} ${BEHAVE} --port={port}` },
    { name: 'api', port: api, command: `${NODE_BARE} ${BEHAVE} --port={port}` },
  ]);
  await d.start();
  return { d, web, api };
}

t.before(() => ensureBuild());

t.test('batches, status exit codes and suggestions', async (t) => {
  const { d } = await twoApps(t);
  t.equal((await d.ctl('status')).code, 0, 'every app running: 0');

  const before = [...(await d.servingPids('web')), ...(await d.servingPids('api'))];
  const both = await d.ctl('restart', 'web', 'api');
  t.equal(both.code, 0, both.stderr);
  t.match(both.stdout, /^web: restarted .*\napi: restarted /m, 'one summary line per app, in the order given');
  const after = [...(await d.servingPids('web')), ...(await d.servingPids('api'))];
  t.equal(after.length, 2);
  t.notOk(after.some((p) => before.includes(p)), 'both apps got new instances');

  t.equal((await d.ctl('stop', '--all')).code, 0);
  t.equal((await d.ctl('status')).code, 3, 'no app running: 3');
  t.equal((await d.ctl('status', 'web')).code, 3, 'the named app is stopped: 3');
  t.equal((await d.ctl('start', 'all')).code, 0, '`all` is every app');
  t.same((await d.status()).map((a) => a.state), ['running', 'running']);

  t.equal((await d.ctl('stop', 'api')).code, 0);
  t.equal((await d.ctl('status', 'web')).code, 0, 'the named app runs: 0, whatever the others do');
  t.equal((await d.ctl('status')).code, 3, 'one app stopped: 3');
  t.equal((await d.ctl('status', 'web', 'api')).code, 3);

  const quiet = await d.ctl('kill', '--all', '--quiet');
  t.equal(quiet.code, 0);
  t.equal(quiet.stdout, '', '--quiet prints nothing');

  const typo = await d.ctl('restart', 'wbe');
  t.equal(typo.code, 1);
  t.match(typo.stderr, /GV_ERR_APP_NOT_FOUND: .*did you mean "web"\?/);
  const unknownStatus = await d.ctl('status', 'ap');
  t.equal(unknownStatus.code, 1, 'status of an unknown app fails (1), it is not "not running" (3)');
  t.match(unknownStatus.stderr, /did you mean "api"\?/);
  t.equal((await d.ctl('restart')).code, 2, 'no app: usage error');
  t.equal((await d.ctl('restart', 'web', 'all')).code, 2, 'names and all: usage error');
});

t.test('`all` is not a valid app name, and --check says so with its position', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gv-all-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'gracevisor.yaml');
  await writeFile(file, `apps:\n  - name: all\n    command: ${NODE_BARE} ${BEHAVE} --port={port}\n    external_port: 18080\n`);
  const r = await run(process.execPath, [GRACEVISORD, '--conf', file, '--check']);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:\\d+: GV_ERR_CONFIG_RANGE: .*all`));
});

t.test('progress on a terminal, a summary off one, nothing with --quiet', { skip: !hasScript && 'script(1) is needed for a terminal' }, async (t) => {
  const { d, web } = await twoApps(t);
  // A request in flight for 6 s: the old instance drains it, and the progress says so.
  const slow = get(web, '/slow?ms=6000');
  await waitFor(async () => ((await d.status('web'))[0].stats.targets[0]?.inFlight ?? 0) > 0, 10_000);
  const tty = await onTty(d, ['restart', 'web']);
  t.equal(tty.code, 0, tty.stderr);
  t.equal(await slow, 200, 'the in-flight request finished');
  const steps = ['restart started', 'spawned \\(pid \\d+, port \\d+\\)', 'ready', 'traffic switched to web#\\d+', 'draining \\(1 in flight\\)', 'still draining: 1 in flight', 'drained in \\d+ms', 'stopped'];
  let at = 0;
  for (const step of steps) {
    const m = new RegExp(`^web: (web#\\d+ )?${step}`, 'm').exec(tty.stdout.slice(at));
    t.ok(m, `step "${step}" is printed, in order`);
    if (m) at += m.index + m[0].length;
  }
  t.match(tty.stdout, /^web: restarted /m, 'then the summary');

  const plain = await d.ctl('restart', 'web');
  t.equal(plain.code, 0);
  t.notMatch(plain.stdout, /spawned|traffic switched/, 'off a terminal: no steps');
  t.match(plain.stdout, /^web: restarted /m, 'only the summary');

  const quiet = await onTty(d, ['restart', 'web', '--quiet']);
  t.equal(quiet.code, 0);
  t.equal(quiet.stdout.trim(), '', '--quiet on a terminal prints nothing');
});

t.test('status --watch redraws in place, in colour unless NO_COLOR', { skip: !hasScript && 'script(1) is needed for a terminal' }, async (t) => {
  const { d, web } = await twoApps(t);
  const watch = async (env: NodeJS.ProcessEnv): Promise<string> => {
    const cmd = [process.execPath, GRACEVISORCTL, '--socket', d.socket, 'status', '--watch', '--interval', '0.3'].map(q).join(' ');
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    track(t, child.pid!, { label: 'status --watch', group: true });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    // Traffic between frames, so requests per second is more than 0.
    const frames = (): number => out.split('\x1b[2J').length - 1;
    t.ok(await waitFor(async () => {
      await get(web);
      return frames() >= 3;
    }, 30_000), 'three frames drawn');
    process.kill(-child.pid!, 'SIGINT');
    await new Promise((r) => child.once('close', r));
    return out;
  };
  const coloured = await watch({ ...process.env, NO_COLOR: '' });
  t.match(coloured, /\x1b\[H\x1b\[2J/, 'home and clear before each frame');
  for (const col of ['APP / INSTANCE', 'STATE', 'UPTIME', 'CPU', 'RSS', 'REQ/S', 'IN FLIGHT', 'RESTARTS']) t.match(coloured, col);
  t.match(coloured, /\x1b\[32mrunning\x1b\[39m/, 'running in green');
  t.match(coloured, /[1-9]\d*\.\d\/s/, 'a request rate above zero');
  const env = { ...process.env, NO_COLOR: '1' };
  const plain = await watch(env);
  t.notMatch(plain, /\x1b\[3\dm/, 'NO_COLOR: no colours');
  t.match(plain, /web\s+running/);
});

t.test('read-only commands still work when the config does not parse; changing ones say nothing changed', async (t) => {
  const { d } = await twoApps(t);
  await appendFile(d.confFile, '\n  - name: [broken\n');
  const status = await run(process.execPath, [GRACEVISORCTL, '--conf', d.dir, 'status']);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stderr, /the config .* does not load .*gracevisor\.yaml:\d+:\d+.*asking the daemon started with it \(pid \d+\)/);
  t.match(status.stdout, /^web /m);
  const events = await run(process.execPath, [GRACEVISORCTL, '--conf', d.dir, 'events', '-n', '5']);
  t.equal(events.code, 0, 'events too');
  const restart = await run(process.execPath, [GRACEVISORCTL, '--conf', d.dir, 'restart', 'web']);
  t.equal(restart.code, 1);
  t.match(restart.stderr, /gracevisor\.yaml:\d+:\d+: GV_ERR_CONFIG_\w+/);
  t.match(restart.stderr, /nothing was changed/);
  t.notMatch(status.stderr, /nothing was changed/, 'a read-only command does not say so');
});

t.test('help names its placeholders; help, --help and gracevisord --help work', async (t) => {
  const help = await run(process.execPath, [GRACEVISORCTL, 'help']);
  t.equal(help.code, 0);
  t.notMatch(help.stdout, /#\d/, 'no #0 placeholders');
  t.match(help.stdout, /gracevisorctl restart \[--socket PATH\] .*\[--conf PATH\] .*\[APP…\]/);
  t.match(help.stdout, /gracevisorctl logs .*\[-n,--lines N\]/);
  const one = await run(process.execPath, [GRACEVISORCTL, 'help', 'status']);
  t.equal(one.code, 0);
  t.match(one.stdout, /--interval SECONDS\s{4}Seconds between redraws/);
  t.match(one.stdout, /Exit status: 0[\s\S]* 3 when/);
  t.equal((await run(process.execPath, [GRACEVISORCTL, 'help', 'nope'])).code, 2, 'help of an unknown command: usage error');
  const d = await run(process.execPath, [GRACEVISORD, '--help']);
  t.equal(d.code, 0);
  for (const flag of ['--conf PATH', '--check', '--print', '-v,--version']) t.match(d.stdout, flag);
  t.equal((await run(process.execPath, [GRACEVISORD, 'help'])).code, 0);
});

t.test('shell completion: commands, options, files and app names from the daemon', async (t) => {
  const { d } = await twoApps(t);
  // gracevisorctl on PATH, as an installed one is (the script calls it back for app names).
  const bin = await mkdtemp(join(tmpdir(), 'gv-bin-'));
  t.teardown(() => rm(bin, { recursive: true, force: true }));
  await writeFile(join(bin, 'gracevisorctl'), `#!/bin/sh\nexec ${process.execPath} ${GRACEVISORCTL} "$@"\n`);
  chmodSync(join(bin, 'gracevisorctl'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  const script = (await run(process.execPath, [GRACEVISORCTL, 'completion', 'bash'])).stdout;
  const complete = async (...words: string[]): Promise<string[]> => {
    const file = join(bin, 'complete.sh');
    await writeFile(file, `${script}\nCOMP_WORDS=(${words.map(q).join(' ')}); COMP_CWORD=${words.length - 1}\n_gracevisorctl\nprintf '%s\\n' "\${COMPREPLY[@]}"\n`);
    const r = await run('bash', [file], { env });
    t.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '');
  };
  t.same(await complete('gracevisorctl', 're'), ['reload', 'remove', 'restart'], 'command names');
  t.same(await complete('gracevisorctl', 'plugins', ''), ['list'], 'the second word of a two-word command');
  t.same((await complete('gracevisorctl', '--socket', d.socket, 'restart', '')).sort(), ['all', 'api', 'web'], 'app names from the daemon, and all');
  t.same(await complete('gracevisorctl', '--socket', d.socket, 'logs', 'w'), ['web'], 'logs takes one app');
  t.same(await complete('gracevisorctl', 'status', '--wa'), ['--watch'], "a command's options");
  t.same(await complete('gracevisorctl', 'completion', ''), ['bash', 'zsh']);
  t.ok((await complete('gracevisorctl', '--conf', join(d.dir, 'grace'))).includes(d.confFile), 'files after --conf');
  const zsh = await run(process.execPath, [GRACEVISORCTL, 'completion', 'zsh']);
  t.equal(zsh.code, 0);
  t.match(zsh.stdout, /bashcompinit/);
  t.match(zsh.stdout, /complete -F _gracevisorctl gracevisorctl/);
  t.equal((await run(process.execPath, [GRACEVISORCTL, 'completion', 'fish'])).code, 2, 'an unknown shell is a usage error');
});

t.test('logs: one app merged in time order, every app marked, the daemon\'s own log', async (t) => {
  const { d, web, api } = await twoApps(t);
  t.equal(await get(web, '/print?n=3&tag=webline'), 200);
  t.equal(await get(api, '/print?n=2&tag=apiline'), 200);
  const lines = (r: CtlResult): string[] => r.stdout.split('\n').filter((l) => l !== '');
  let merged: string[] = [];
  t.ok(await waitFor(async () => (merged = lines(await d.ctl('logs', 'web', '-n', '100')).filter((l) => /webline/.test(l))).length === 6), 'stdout and stderr lines together');
  const line = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (web#\d+) (out|err) webline(-err)? (\d+) /;
  t.ok(merged.every((l) => line.test(l)), 'each line: time, instance, stream');
  const times = merged.map((l) => line.exec(l)![1]!);
  t.same(times, [...times].sort(), 'in time order');
  t.same(new Set(merged.map((l) => line.exec(l)![3])), new Set(['out', 'err']));
  const out = lines(await d.ctl('logs', 'web', '--stdout', '-n', '100')).filter((l) => /webline/.test(l));
  t.equal(out.length, 3);
  t.ok(out.every((l) => / out webline \d/.test(l)), '--stdout: only stdout');
  const err = lines(await d.ctl('logs', 'web', '--stderr', '-n', '100')).filter((l) => /webline/.test(l));
  t.ok(err.length === 3 && err.every((l) => / err webline-err \d/.test(l)), '--stderr: only stderr');
  const all = lines(await d.ctl('logs', '-n', '100'));
  t.ok(all.some((l) => /^web\b.*webline/.test(l)) && all.some((l) => /^api\b.*apiline/.test(l)), 'without an app: every app, each line marked with its app');
  const daemon = await d.ctl('logs', '--daemon', '-n', '200');
  t.equal(daemon.code, 0);
  t.match(daemon.stdout, /event=daemon_ready/, '--daemon: the daemon\'s own log');
  t.equal((await d.ctl('logs', '--daemon', 'web')).code, 2, '--daemon takes no app');
});

t.test('a second daemon refused the run_dir writes nothing into the first one\'s log', async (t) => {
  const { d } = await twoApps(t);
  const logFile = join(d.logDir, 'gracevisor.log');
  await d.waitForEvent('daemon_ready');
  const before = readFileSync(logFile, 'utf8');
  const second = await run(process.execPath, [GRACEVISORD, '--conf', d.dir]);
  t.equal(second.code, 1, 'the second daemon fails to start');
  t.match(second.stderr, /GV_ERR_DAEMON_RUNNING|GV_ERR_CONTROL_LISTEN/, 'saying another daemon runs');
  const after = readFileSync(logFile, 'utf8');
  t.equal(after.slice(0, before.length), before, 'the first daemon\'s log is intact');
  t.notMatch(after.slice(before.length), /daemon_starting|DAEMON_RUNNING|startup_failed/, 'and holds nothing of the second');
  t.equal((await d.ctl('status')).code, 0, 'the first daemon still serves');
});

t.test('--check suggests the nearest name: an unknown hook, health check option, or alert option', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gv-suggest-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'p.mjs'), `export default { name: 'p', apiVersion: 1, hooks: { onInstanceReddy() {} } };\n`);
  await writeFile(join(dir, 'gracevisor.yaml'), [
    'plugins: [./p.mjs]',
    'alerts:',
    '  - { type: webhook, ulr: "http://127.0.0.1:9/" }',
    'apps:',
    `  - name: web`,
    `    command: ${NODE_BARE} ${BEHAVE} --port={port}`,
    '    external_port: 18223',
    '    healthcheck: { type: http, pth: /health }',
    '',
  ].join('\n'));
  const r = await run(process.execPath, [GRACEVISORD, '--conf', dir, '--check']);
  t.equal(r.code, 1);
  t.match(r.stderr, /gracevisor\.yaml:1:\d+: GV_ERR_CONFIG_PLUGIN_LOAD: .*onInstanceReddy is not a hook; did you mean onInstanceReady\?/);
  t.match(r.stderr, /gracevisor\.yaml:8:\d+: GV_ERR_CONFIG_HEALTHCHECK: .*unknown option pth; did you mean path\?/);
  t.match(r.stderr, /gracevisor\.yaml:3:\d+: GV_ERR_CONFIG_\w+: .*ulr; did you mean url\?/);
});
