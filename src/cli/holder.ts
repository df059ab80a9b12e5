/**
 * gracevisord's holder: the process `gracevisord` starts as, and the one that stays (docs/architecture.md
 * "Restartable daemon"). It loads no config and no plugin and runs no app; it runs the daemon itself
 * — the worker, `gracevisord --worker` — and keeps what must outlive a worker:
 *
 * - every listening socket the worker binds (each app's, the control socket, the metrics and
 *   control TCP listeners), handed over the IPC channel; the holder never accepts on them, so while
 *   no worker runs, connections wait in the kernel's backlog instead of being refused;
 * - a read end of every instance's output FIFOs, so that an app's writes wait in the pipe instead
 *   of failing while no worker reads them.
 *
 * When the worker dies (a SIGKILL, a plugin's process.exit, an out-of-memory crash) the holder starts
 * a new one at once, which takes the sockets back and adopts the running instances: the apps keep
 * their pids and nothing is refused. `gracevisorctl upgrade` (or SIGUSR2) starts the gracevisord on
 * disk now beside the running worker; once it has loaded its config the old one freezes, the new one
 * adopts and serves, and the old one finishes its open connections and exits. If the new one fails
 * before it serves, the old one thaws and carries on.
 *
 * Signals: SIGTERM/SIGINT (and a second one) and SIGHUP go to the worker; SIGUSR2 upgrades. The
 * holder exits with the worker's status when the worker stops as asked or fails its first start; it
 * gives up (stops every instance it knows of, exit 1) after 5 crashes within a minute.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonLog } from '../supervisor/daemon-log.js';
import { fifoPaths } from '../supervisor/output-pipes.js';
import { isSameProcess, killGroup, groupAlive, procStartTime } from '../supervisor/proc.js';
import type { InstanceRecord } from '../supervisor/state-file.js';
import { VERSION } from '../version.js';
import type { ToHolder, ToWorker, WirePartials, WorkerMode } from './holder-protocol.js';

/** The executable a worker is started from: the gracevisord on disk when it starts (an upgrade runs the new one). */
const GRACEVISORD = fileURLToPath(new URL('./gracevisord.js', import.meta.url));

/** Crashes within {@link CRASH_WINDOW_MS} after which the holder gives up. */
const MAX_CRASHES = 5;
const CRASH_WINDOW_MS = 60_000;
/** How long a successor may take to load its config, and then to take over, ms. */
const LOAD_TIMEOUT_MS = 60_000;
const TAKEOVER_TIMEOUT_MS = 120_000;
/** How long the old worker may take to freeze, ms. */
const FREEZE_TIMEOUT_MS = 30_000;

/** One worker process and what it said. */
class Worker {
  readonly child: ChildProcess;
  readonly mode: WorkerMode;
  readonly pid: number;
  version = VERSION;
  ready = false;
  /** What it said just before exiting, if it did. */
  intent: Extract<ToHolder, { t: 'exiting' }> | null = null;
  exit: { code: number | null; signal: string | null } | null = null;
  readonly #waiters = new Map<string, ((m: ToHolder) => void)[]>();
  readonly #exitWaiters: (() => void)[] = [];

  constructor(child: ChildProcess, mode: WorkerMode) {
    this.child = child;
    this.mode = mode;
    this.pid = child.pid ?? -1;
  }

  /** Resolve with the next message of type `t`, or null if it exits (or `ms` passes) first. */
  next<T extends ToHolder['t']>(t: T, ms: number): Promise<Extract<ToHolder, { t: T }> | null> {
    if (this.exit) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), ms);
      const done = (m: ToHolder | null): void => {
        clearTimeout(timer);
        const list = this.#waiters.get(t) ?? [];
        this.#waiters.set(t, list.filter((f) => f !== onMsg));
        resolve(m as Extract<ToHolder, { t: T }> | null);
      };
      const onMsg = (m: ToHolder): void => done(m);
      this.#waiters.set(t, [...(this.#waiters.get(t) ?? []), onMsg]);
      this.#exitWaiters.push(() => done(null));
    });
  }

  /** Hand `m` to whoever waits for its type. */
  heard(m: ToHolder): void {
    if (m.t === 'ready') {
      this.ready = true;
      this.version = m.version;
    }
    if (m.t === 'exiting') this.intent = m;
    for (const f of this.#waiters.get(m.t) ?? []) f(m);
  }

  exited(code: number | null, signal: string | null): void {
    this.exit = { code, signal };
    for (const f of this.#exitWaiters.splice(0)) f();
  }

  send(msg: ToWorker, handle?: object): void {
    if (!this.child.connected) return;
    try {
      this.child.send(msg, handle as never, {}, () => {});
    } catch {
      // It is going away; its exit is handled.
    }
  }
}

/** The holder. */
export class Holder {
  readonly #args: string[];
  readonly #log = new DaemonLog();
  /** Listening sockets, by key (src/supervisor/handover.ts). */
  readonly #held = new Map<string, object>();
  /** Read ends of instance output FIFOs, by path. */
  readonly #fifos = new Map<string, number>();
  #records: InstanceRecord[] = [];
  #worker: Worker | null = null;
  #next: Worker | null = null;
  /** Workers that handed over and are finishing their open connections. */
  readonly #retiring = new Set<Worker>();
  /** The timer that starts the next worker after a crash, and that crash. */
  #respawn: NodeJS.Timeout | null = null;
  #lastCrash: { pid: number; code: number | null; signal: string | null } | null = null;
  #stopping = false;
  #everReady = false;
  readonly #crashes: number[] = [];
  #resolveExit!: (code: number) => void;
  readonly exited = new Promise<number>((r) => (this.#resolveExit = r));

  /** `args`: gracevisord's own arguments (`--conf PATH`), passed to every worker. */
  constructor(args: string[]) {
    this.#args = args;
  }

  /** Start the first worker and handle signals; resolves (see {@link exited}) with the exit status. */
  start(): Promise<number> {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => this.#forwardStop(sig));
    process.on('SIGHUP', () => this.#worker?.child.kill('SIGHUP'));
    process.on('SIGUSR2', () => void this.upgrade().then((r) => {
      if (!r.ok) this.#log.error(`upgrade failed: ${r.message}`, { event: 'upgrade_failed', code: r.code });
    }));
    this.#worker = this.#spawn('start', null);
    return this.exited;
  }

  /**
   * Replace the worker with the gracevisord on disk now. Resolves with how it went; the old worker
   * keeps everything when the new one fails before it serves.
   */
  async upgrade(): Promise<Extract<ToWorker, { t: 'upgrade-result' }>> {
    const fail = (code: string, message: string): Extract<ToWorker, { t: 'upgrade-result' }> => ({ t: 'upgrade-result', id: 0, ok: false, code, message });
    const old = this.#worker;
    if (this.#stopping) return fail('GV_ERR_DAEMON_UPGRADING', 'gracevisord is stopping');
    if (this.#next) return fail('GV_ERR_DAEMON_UPGRADING', 'an upgrade is already under way');
    if (!old || !old.ready) return fail('GV_ERR_DAEMON_UPGRADING', 'the daemon is not serving yet; try again once it is');
    const t0 = performance.now();
    this.#log.info('upgrade: starting the new daemon', { event: 'upgrade_started', from: old.pid });
    const next = this.#spawn('takeover', null);
    this.#next = next;
    const abort = (why: string, thaw: boolean): Extract<ToWorker, { t: 'upgrade-result' }> => {
      if (thaw) old.send({ t: 'thaw' });
      if (!next.exit) next.child.kill('SIGKILL');
      this.#next = null;
      const error = next.intent?.error ?? why;
      this.#log.error(`upgrade failed, the running daemon keeps serving: ${error}`, { event: 'upgrade_failed', pid: next.pid });
      return fail('GV_ERR_UPGRADE_FAILED', `the new daemon did not take over: ${error}`);
    };
    if (!(await next.next('loaded', LOAD_TIMEOUT_MS))) return abort(next.exit ? `it exited (${describeExit(next.exit)})` : `it did not load its config within ${LOAD_TIMEOUT_MS / 1000} s`, false);
    old.send({ t: 'freeze' });
    const frozen = await old.next('frozen', FREEZE_TIMEOUT_MS);
    if (!frozen) return abort(old.exit ? 'the running daemon went away during the handover' : `the running daemon did not freeze within ${FREEZE_TIMEOUT_MS / 1000} s`, old.exit === null);
    this.#sendInit(next, 'takeover', frozen.partials, null);
    if (!(await next.next('ready', TAKEOVER_TIMEOUT_MS))) return abort(next.exit ? `it exited (${describeExit(next.exit)})` : `it did not take over within ${TAKEOVER_TIMEOUT_MS / 1000} s`, true);
    this.#worker = next;
    this.#next = null;
    this.#retiring.add(old);
    old.send({ t: 'retire' });
    const durationMs = Math.round(performance.now() - t0);
    this.#log.info('upgrade: the new daemon serves; the old one finishes its open connections', { event: 'upgrade_done', from: old.pid, to: next.pid, durationMs });
    return { t: 'upgrade-result', id: 0, ok: true, from: { pid: old.pid, version: old.version }, to: { pid: next.pid, version: next.version }, durationMs };
  }

  #spawn(mode: WorkerMode, previous: { pid: number; code: number | null; signal: string | null } | null): Worker {
    const child = spawn(process.execPath, [...process.execArgv, GRACEVISORD, '--worker', mode, ...this.#args], {
      // Its own process group: a terminal's Ctrl-C reaches the holder, which passes it on once.
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, GRACEVISOR_HOLDER_PID: String(process.pid), GRACEVISOR_HOLDER_START: procStartTime(process.pid) ?? '' },
    });
    const w = new Worker(child, mode);
    child.on('message', (m: ToHolder, handle?: object) => this.#onMessage(w, m, handle));
    child.on('error', (err) => this.#log.error(`cannot start the daemon: ${err.message}`, { event: 'worker_failed' }));
    child.on('exit', (code, signal) => this.#onExit(w, code, signal));
    // A first start or a recovery gets its sockets at once; a takeover only once the old worker froze.
    if (mode !== 'takeover') {
      void w.next('loaded', LOAD_TIMEOUT_MS).then((m) => {
        if (m) this.#sendInit(w, mode, {}, previous);
      });
    }
    return w;
  }

  #sendInit(w: Worker, mode: WorkerMode, partials: WirePartials, previous: { pid: number; code: number | null; signal: string | null } | null): void {
    w.send({ t: 'init', mode, partials, previous });
    for (const [key, handle] of this.#held) w.send({ t: 'listener', key }, handle);
    w.send({ t: 'init-done' });
  }

  #onMessage(w: Worker, m: ToHolder, handle?: object): void {
    switch (m.t) {
      case 'hold':
        // Each handle received is a descriptor of its own (the same socket): the one it replaces is closed.
        if (handle) {
          closeHandle(this.#held.get(m.key));
          this.#held.set(m.key, handle);
        }
        break;
      case 'drop':
        closeHandle(this.#held.get(m.key));
        this.#held.delete(m.key);
        break;
      case 'instances':
        // The frozen old worker no longer writes; only the serving (or taking over) one is listened to.
        if (w === this.#worker || w === this.#next) this.#keepFifos(m.runDir, m.records);
        break;
      case 'upgrade':
        void this.upgrade().then((r) => w.send({ ...r, id: m.id }));
        break;
      default:
        break;
    }
    w.heard(m);
    if (m.t === 'ready' && w === this.#worker) this.#everReady = true;
  }

  /** Keep a read end of every recorded instance's output FIFOs open; close those of instances gone. */
  #keepFifos(runDir: string, records: InstanceRecord[]): void {
    this.#records = records;
    const want = new Set<string>();
    for (const r of records) {
      const p = fifoPaths(join(runDir, 'pipes'), r.id);
      for (const path of [p.out, p.err]) {
        want.add(path);
        if (this.#fifos.has(path) || !existsSync(path)) continue;
        try {
          this.#fifos.set(path, openSync(path, constants.O_RDONLY | constants.O_NONBLOCK));
        } catch {
          // Not a FIFO of ours (an instance started with anonymous pipes): nothing to keep.
        }
      }
    }
    for (const [path, fd] of this.#fifos) {
      if (want.has(path)) continue;
      this.#fifos.delete(path);
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
  }

  #onExit(w: Worker, code: number | null, signal: string | null): void {
    w.exited(code, signal);
    this.#retiring.delete(w);
    if (w === this.#next) return; // a failed takeover: upgrade() handles it
    if (w !== this.#worker) return; // the old worker after a handover, or a takeover that was aborted
    const intent = w.intent;
    if (intent?.reason === 'shutdown' || (intent?.reason === 'startup-failed' && !this.#everReady)) {
      this.#finish(code ?? (signal ? 1 : 0));
      return;
    }
    if (this.#stopping) {
      // It died while stopping, before it had stopped the apps: stop what it recorded, then go.
      this.#log.error(`gracevisord died while stopping (${describeExit({ code, signal })}); stopping every app`, { event: 'worker_exit', pid: w.pid });
      void this.#giveUp().then(() => this.#finish(1));
      return;
    }
    // A crash (or a recovery that could not start): start a new worker, which adopts what runs.
    const now = Date.now();
    this.#crashes.push(now);
    while (this.#crashes.length > 0 && now - this.#crashes[0]! > CRASH_WINDOW_MS) this.#crashes.shift();
    const how = describeExit({ code, signal });
    if (!this.#everReady) {
      this.#log.error(`gracevisord exited before it served (${how})`, { event: 'worker_exit', pid: w.pid });
      this.#finish(code ?? 1);
      return;
    }
    if (this.#crashes.length >= MAX_CRASHES) {
      this.#log.error(`gracevisord crashed ${this.#crashes.length} times within ${CRASH_WINDOW_MS / 1000} s; giving up: stopping every app`, { event: 'holder_gave_up' });
      void this.#giveUp().then(() => this.#finish(1));
      return;
    }
    // At once for the first three crashes within the window, then a second's pause before the last try.
    const delay = this.#crashes.length <= 3 ? 0 : 1000;
    this.#lastCrash = { pid: w.pid, code, signal };
    this.#log.error(`gracevisord crashed (${how}); starting it again${delay > 0 ? ` in ${delay} ms` : ''}: the apps keep running and connections wait`, { event: 'worker_crashed', pid: w.pid, code, signal });
    this.#worker = null;
    const previous = { pid: w.pid, code, signal };
    this.#respawn = setTimeout(() => this.#recover(previous), delay);
  }

  /** Start a worker that adopts what the last one left running. */
  #recover(previous: { pid: number; code: number | null; signal: string | null }): void {
    if (this.#respawn) clearTimeout(this.#respawn);
    this.#respawn = null;
    this.#worker = this.#spawn('recover', previous);
  }

  #forwardStop(sig: 'SIGTERM' | 'SIGINT'): void {
    this.#stopping = true;
    if (this.#next && !this.#next.exit) this.#next.child.kill('SIGKILL');
    if (this.#worker === null && this.#respawn !== null && this.#lastCrash) {
      // Between a crash and the next worker: start it now and stop it (gracefully) once it serves.
      this.#recover(this.#lastCrash);
    }
    const w = this.#worker;
    if (!w || w.exit) {
      this.#finish(1);
      return;
    }
    // A worker recovering from a crash is told once it serves (before that it has no signal handlers
    // of its own and would die at once, leaving the apps to nobody).
    if (w.ready || w.mode !== 'recover') w.child.kill(sig);
    else void w.next('ready', LOAD_TIMEOUT_MS).then(() => {
      if (!w.exit) w.child.kill(sig);
    });
  }

  /** Stop every instance the last worker recorded (SIGTERM, then SIGKILL after 5 s). */
  async #giveUp(): Promise<void> {
    const live = this.#records.filter((r) => isSameProcess(r.pid, r.proc_start));
    for (const r of live) killGroup(r.pgid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && live.some((r) => groupAlive(r.pgid))) await new Promise((r) => setTimeout(r, 50));
    for (const r of live) if (groupAlive(r.pgid)) killGroup(r.pgid, 'SIGKILL');
  }

  #finish(code: number): void {
    // A worker still finishing connections after a handover holds no app of its own: it goes too.
    for (const w of this.#retiring) if (!w.exit) w.child.kill('SIGKILL');
    for (const h of this.#held.values()) closeHandle(h);
    this.#held.clear();
    for (const fd of this.#fifos.values()) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.#fifos.clear();
    void this.#log.close().finally(() => this.#resolveExit(code));
  }
}

/** Close a socket handle the holder keeps; gone already is fine. */
function closeHandle(h: object | undefined): void {
  try {
    (h as { close?: () => void } | undefined)?.close?.();
  } catch {
    // already closed
  }
}

function describeExit(e: { code: number | null; signal: string | null }): string {
  return e.signal ? `signal ${e.signal}` : `exit ${e.code}`;
}
