import t from 'tap';
import { createServer, type Server } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { PortPool } from '../../src/supervisor/port-pool.js';
import { RestartPolicy } from '../../src/supervisor/restart-policy.js';
import { StateFile } from '../../src/supervisor/state-file.js';
import { DaemonLog, formatRecord } from '../../src/supervisor/daemon-log.js';
import { procStartTime } from '../../src/supervisor/proc.js';
import { freePortRange } from '../helpers/ports.js';
import { alive, killOnTeardown } from '../helpers/processes.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// A regression that makes something here hang fails with the test's name, not at tap's timeout.
t.beforeEach((t) => t.setTimeout(60_000));

t.test('the port pool skips ports something else holds, never hands one out twice, and runs out with GV_ERR_PORT_EXHAUSTED', async (t) => {
  const range = await freePortRange(3);
  const squatter: Server = createServer();
  await new Promise<void>((r) => squatter.listen(range.from + 1, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => squatter.close(() => r())));
  const pool = new PortPool(range);
  const [a, b] = await Promise.all([pool.allocate('127.0.0.1'), pool.allocate('127.0.0.1')]);
  t.same([a, b].sort(), [range.from, range.from + 2], 'the held port was skipped');
  await t.rejects(pool.allocate('127.0.0.1'), { code: 'GV_ERR_PORT_EXHAUSTED' });
  pool.release(a);
  t.equal(await pool.allocate('127.0.0.1'), a, 'a released port comes back');
  t.throws(() => new PortPool({ from: 10, to: 5 }), { code: 'GV_ERR_CONFIG_RANGE' });
});

t.test('the restart policy backs off exponentially up to a cap and gives up after max_retries', async (t) => {
  const p = new RestartPolicy(3, { baseMs: 100, maxMs: 300 });
  t.same(p.fail(), { attempt: 1, nextAttemptMs: 100 });
  t.same(p.fail(), { attempt: 2, nextAttemptMs: 200 });
  t.same(p.fail(), { attempt: 3, nextAttemptMs: 300 }, 'capped');
  t.same(p.fail(), { attempt: 4, nextAttemptMs: null }, 'gives up');
  p.reset();
  t.same(p.fail(), { attempt: 1, nextAttemptMs: 100 }, 'reset starts over');
  t.same(new RestartPolicy(0).fail().nextAttemptMs, null, 'max_retries 0 never retries');
});

t.test('a second lock on a run_dir fails with GV_ERR_DAEMON_RUNNING while the holder lives, and a stale lock is taken over', async (t) => {
  const dir = tempDir(t);
  const a = new StateFile(dir);
  await a.lock();
  // Another process holds it: write its pid into the lock.
  const child = spawn(process.execPath, ['-e', 'setInterval(()=>{}, 1e6)'], { stdio: 'ignore' });
  killOnTeardown(t, child.pid!);
  await a.unlock();
  writeFileSync(join(dir, 'gracevisord.lock'), JSON.stringify({ pid: child.pid, proc_start: procStartTime(child.pid!) }));
  await t.rejects(new StateFile(dir).lock(), { code: 'GV_ERR_DAEMON_RUNNING' });
  // Same pid, different start time: a reused pid, not the holder.
  writeFileSync(join(dir, 'gracevisord.lock'), JSON.stringify({ pid: child.pid, proc_start: '1' }));
  const b = new StateFile(dir);
  await b.lock();
  t.equal(JSON.parse(readFileSync(join(dir, 'gracevisord.lock'), 'utf8')).pid, process.pid, 'taken over');
  await b.unlock();
});

t.test('a state file without the lock is never written, so a daemon refused the run_dir cannot wipe the holder’s records', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ['-e', 'setInterval(()=>{}, 1e6)'], { stdio: 'ignore' });
  killOnTeardown(t, child.pid!);
  // Another live daemon holds the run_dir and has recorded an instance.
  writeFileSync(join(dir, 'gracevisord.lock'), JSON.stringify({ pid: child.pid, proc_start: procStartTime(child.pid!) }));
  const record = { app: 'x', id: 'x#1', pid: child.pid, pgid: child.pid, port: 1, started_at: '', proc_start: null };
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ daemon: { pid: child.pid, proc_start: null }, instances: [record] }));
  const intruder = new StateFile(dir);
  await t.rejects(intruder.lock(), { code: 'GV_ERR_DAEMON_RUNNING' });
  intruder.add({ ...record, id: 'y#1', pid: process.pid });
  await intruder.flush();
  await intruder.unlock();
  t.same(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).instances, [record], 'the holder’s records are untouched');
  t.equal(JSON.parse(readFileSync(join(dir, 'gracevisord.lock'), 'utf8')).pid, child.pid, 'and so is its lock');
});

t.test('recovery leaves a recorded pid alone when it now belongs to another process', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ['-e', 'setInterval(()=>{}, 1e6)'], { stdio: 'ignore', detached: true });
  killOnTeardown(t, child.pid!, true);
  writeFileSync(join(dir, 'state.json'), JSON.stringify({
    daemon: { pid: 1, proc_start: null },
    instances: [{ app: 'x', id: 'x#1', pid: child.pid, pgid: child.pid, port: 1, started_at: '', proc_start: '12345' }],
  }));
  const sf = new StateFile(dir);
  await sf.lock();
  const out = await sf.recover(200);
  t.equal(out[0]!.outcome, 'gone');
  t.ok(alive(child.pid!), 'not signalled');
  t.same(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).instances, [], 'the state file is rewritten empty');
  const rec = { app: 'x', id: 'x#2', pid: child.pid!, pgid: child.pid!, port: 1, started_at: '', proc_start: procStartTime(child.pid!) };
  sf.add(rec);
  await sf.flush();
  await sf.unlock();
  const next = new StateFile(dir);
  await next.lock();
  const out2 = await next.recover(200);
  await next.unlock();
  t.equal(out2[0]!.outcome, 'stopped', 'the same process is stopped');
  await waitFor(() => !alive(child.pid!), 'child gone');
});

t.test('the daemon log writes one formatted line per record to its file', async (t) => {
  const dir = tempDir(t);
  const log = new DaemonLog({ stderr: false, logger: { log_dir: dir, log_file: null, max_log_size: 1 << 20, max_logs_kept: 3, max_log_age: null } });
  t.equal(log.file, join(dir, 'gracevisor.log'));
  log.info('hello', { app: 'demo', n: 2, text: 'two words' });
  log.debug('hidden');
  log.error('multi\nline');
  await log.close();
  const lines = readFileSync(join(dir, 'gracevisor.log'), 'utf8').trimEnd().split('\n');
  t.equal(lines.length, 2);
  t.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO hello app=demo n=2 text="two words"$/);
  t.match(lines[1]!, /ERROR multi\\nline$/);
  t.equal(formatRecord({ time: 'T', level: 'warn', msg: 'm', fields: { e: new Error('boom'), u: undefined } }), 'T WARN m e=boom\n');
});

t.test('for internal_host localhost the pool skips a port held on 127.0.0.1', async (t) => {
  const range = await freePortRange(2);
  const squatter: Server = createServer();
  await new Promise<void>((r) => squatter.listen(range.from, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => squatter.close(() => r())));
  const pool = new PortPool(range);
  t.equal(await pool.allocate('localhost'), range.to);
});

t.test('a probe that never settles fails at its timeout instead of holding its caller', async (t) => {
  const { probeOnce } = await import('../../src/supervisor/readiness.js');
  let aborted = false;
  const never = (signal: AbortSignal): Promise<{ ok: boolean; detail: string }> => {
    signal.addEventListener('abort', () => { aborted = true; });
    return new Promise(() => {});
  };
  const r = await probeOnce(never, 50);
  t.same(r, { ok: false, detail: 'timed out after 50ms' });
  t.ok(aborted, 'the probe was told through its signal');
  const outer = new AbortController();
  const p = probeOnce(never, 60_000, outer.signal);
  outer.abort();
  t.same(await p, { ok: false, detail: 'aborted' }, 'an outer abort ends it too');
  t.same(await probeOnce(async () => { throw new Error('boom'); }, 1000), { ok: false, detail: 'boom' }, 'a throwing probe is a failed probe');
});
