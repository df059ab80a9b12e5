// gracevisord under a service manager: the sd_notify datagrams a `Type=notify` unit needs, received on
// a real AF_UNIX datagram socket (bound by python3: Node has no unix datagram sockets), and the unit
// file itself checked by systemd-analyze where the machine has it.
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { track } from '../helpers/registry.js';
import { DEMOAPP, NODE_BARE, ROOT, TestDaemon, ensureBuild, freePort, waitFor } from './harness.js';

const hasPython = spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0;
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

/** A unix datagram socket at `path` that prints every datagram it gets, JSON-encoded, one per line. */
function notifyReceiver(t: Tap.Test, path: string): { messages: string[]; ready: Promise<void> } {
  const script = [
    'import json, socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind(sys.argv[1])`,
    'print("bound", flush=True)',
    'while True:',
    '    print(json.dumps(s.recv(65536).decode()), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  track(t, child.pid!, { label: 'notify receiver' });
  t.teardown(() => child.kill('SIGKILL'));
  const messages: string[] = [];
  let buf = '';
  let bound!: () => void;
  const ready = new Promise<void>((r) => (bound = r));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'bound') bound();
      else messages.push(JSON.parse(line) as string);
    }
  });
  return { messages, ready };
}

/** The messages' KEY=value fields, one record per datagram. */
function fields(messages: string[]): Record<string, string>[] {
  return messages.map((m) => Object.fromEntries(m.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])));
}

t.before(() => ensureBuild());

t.test('READY=1 once every app serves, RELOADING=1/READY=1 around reloads, STOPPING=1 at shutdown', { skip: !hasPython && 'python3 is needed to bind a unix datagram socket' }, async (t) => {
  const d = await TestDaemon.create(t);
  const sock = join(d.dir, 'notify.sock');
  const rx = notifyReceiver(t, sock);
  await rx.ready;
  const port = await freePort();
  // The app reports whether it can see NOTIFY_SOCKET: it must not, or it could speak for the daemon.
  const command = `/bin/sh -c 'echo notify_socket=\${NOTIFY_SOCKET:-unset}; exec ${NODE_BARE} ${DEMOAPP} --port={port}'`;
  await d.writeConfig([{ name: 'web', port, command }]);
  await d.start({ env: { ...process.env, NOTIFY_SOCKET: sock } });

  t.ok(await waitFor(() => fields(rx.messages).some((f) => f.READY === '1'), 30_000), 'READY=1 arrives');
  const ready = fields(rx.messages).find((f) => f.READY === '1')!;
  t.equal(ready.MAINPID, String(d.child!.pid), 'MAINPID is the daemon');
  t.match(ready.STATUS, /^1 of 1 apps serving$/, 'STATUS says every app serves');
  const [web] = await d.status('web');
  t.equal(web.state, 'running', 'the app was serving when READY=1 was sent');

  // A reload through the control API (what ExecReload runs) and one through SIGHUP.
  const r = await d.ctl('reload', '--quiet');
  t.equal(r.code, 0, r.stderr);
  t.ok(await waitFor(() => fields(rx.messages).filter((f) => f.READY === '1').length >= 2, 30_000), 'READY=1 again after the reload');
  process.kill(d.child!.pid!, 'SIGHUP');
  t.ok(await waitFor(() => fields(rx.messages).filter((f) => f.READY === '1').length >= 3, 30_000), 'and after SIGHUP');
  const seq = fields(rx.messages).map((f) => (f.RELOADING === '1' ? 'RELOADING' : f.READY === '1' ? 'READY' : '?'));
  t.same(seq, ['READY', 'RELOADING', 'READY', 'RELOADING', 'READY'], 'each reload is RELOADING=1 then READY=1');
  const reloading = fields(rx.messages).find((f) => f.RELOADING === '1')!;
  t.match(reloading.MONOTONIC_USEC, /^\d+$/, 'RELOADING=1 carries MONOTONIC_USEC (Type=notify-reload wants it)');

  // A broken config fails the reload (exit 1, file:line:col), and systemd hears READY=1 with why.
  await d.writeConfig([{ name: 'web', port, command }], 'apps_bogus: [');
  const bad = await d.ctl('reload');
  t.equal(bad.code, 1, 'a broken config fails the reload');
  t.match(bad.stderr, /gracevisor\.yaml:\d+:\d+/, 'naming the position');
  t.ok(await waitFor(() => fields(rx.messages).filter((f) => f.READY === '1').length >= 4, 30_000));
  t.match(fields(rx.messages).at(-1)!.STATUS, /^reload failed \(GV_ERR_CONFIG_\w+\), nothing was changed; 1 of 1 apps serving$/);

  const logs = await d.ctl('logs', 'web', '--stdout', '-n', '50');
  t.match(logs.stdout, /notify_socket=unset/, 'apps do not inherit NOTIFY_SOCKET');

  process.kill(d.child!.pid!, 'SIGTERM');
  t.equal((await d.exited()).code, 0);
  t.match(fields(rx.messages).find((f) => f.STOPPING === '1')?.STATUS, /^stopping \(SIGTERM\)$/, 'STOPPING=1 at shutdown');
});

t.test('without NOTIFY_SOCKET nothing is sent and nothing is logged about it', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  await d.writeConfig([{ name: 'web', port }]);
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  await d.start({ env });
  await d.waitForEvent('daemon_ready');
  process.kill(d.child!.pid!, 'SIGTERM');
  t.equal((await d.exited()).code, 0);
  t.same(d.events('notify_failed'), []);
});

t.test('a NOTIFY_SOCKET nobody listens on is logged once, and the daemon runs on', async (t) => {
  const d = await TestDaemon.create(t);
  const port = await freePort();
  await d.writeConfig([{ name: 'web', port }]);
  await d.start({ env: { ...process.env, NOTIFY_SOCKET: join(d.dir, 'nobody.sock') } });
  const line = await d.waitForEvent('notify_failed');
  t.match(line.msg, /nobody\.sock: (ENOENT|systemd-notify)/);
  const r = await d.ctl('reload', '--quiet');
  t.equal(r.code, 0, 'reloads still work');
  process.kill(d.child!.pid!, 'SIGTERM');
  t.equal((await d.exited()).code, 0);
  t.equal(d.events('notify_failed').length, 1, 'one warning, not one per message');
});

t.test('the systemd unit passes systemd-analyze verify', { skip: !hasAnalyze && 'systemd-analyze is not installed' }, async (t) => {
  const unit = join(ROOT, 'init', 'gracevisord.service');
  const text = await readFile(unit, 'utf8');
  t.match(text, /^Type=notify$/m);
  t.match(text, /^ExecReload=.*gracevisorctl .*reload/m, 'reload goes through gracevisorctl, so a broken config fails it');
  t.match(text, /^Restart=on-failure$/m);
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  // systemd-analyze exits 0 on a key it ignores; what it ignores it says on stderr.
  t.equal(r.stderr.trim(), '', 'no warnings');
});

const hasSystemdNotify = spawnSync('systemd-notify', ['--help'], { stdio: 'ignore' }).status === 0;

t.test('without the native addon, systemd-notify sends the same message', { skip: (!hasPython || !hasSystemdNotify) && 'python3 and systemd-notify are needed' }, async (t) => {
  const { SdNotifier, systemdNotifySend } = await import('../../src/cli/sd-notify.js');
  const d = await TestDaemon.create(t);
  const sock = join(d.dir, 'notify.sock');
  const rx = notifyReceiver(t, sock);
  await rx.ready;
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: sock };
  const errors: string[] = [];
  const sd = new SdNotifier(env, (why) => errors.push(why), systemdNotifySend);
  t.equal(env.NOTIFY_SOCKET, undefined, 'taken out of the environment');
  await sd.notify({ READY: 1, STATUS: 'two\nlines' });
  t.ok(await waitFor(() => rx.messages.length > 0, 10_000));
  const got = fields(rx.messages)[0]!;
  t.equal(got.READY, '1');
  t.equal(got.STATUS, 'two lines', 'a newline in a value cannot start a field of its own');
  t.same(errors, []);
});
