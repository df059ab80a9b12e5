/**
 * Cleanup that survives a failed assertion, tap's timeout and a crash of the test: every process a
 * test starts is tracked here, in memory and in the run's registry folder (test/helpers/leftovers.mjs,
 * swept by scripts/test.mjs after tap). A tracked process is killed with its whole tree and its process
 * group in the test's teardown AND, synchronously, when the test process exits for any reason tap's
 * timeout included (signal-exit: `exit`, SIGALRM, SIGTERM, …). A tracked run_dir is watched: every
 * instance its state.json lists (instances lead their own process group: pgid = pid) is tracked from
 * the moment it is written, which is the moment the supervisor spawns it.
 */
import { onExit } from 'signal-exit';
import { killGroup, killTree, procCmd, procStart, processTable, record, stateInstances } from './leftovers.mjs';
import type { Teardownable } from './tmp.js';

/** One process a test started. */
interface Tracked {
  pid: number;
  /** /proc start time when tracked: a later process that reuses the pid is never touched. */
  start: string | null;
  /** It leads its own process group: kill the group too. */
  group: boolean;
  label: string;
}

/** A run_dir whose state.json is watched. */
interface Watched {
  label: string;
  /** Every instance seen, by pgid. */
  seen: Map<number, Tracked>;
  timer: NodeJS.Timeout;
}

const processes = new Map<number, Tracked>();
const runDirs = new Map<string, Watched>();
const exitHooks = new Set<() => void>();

/** Kill one tracked process (tree and, when it leads one, group) now; true when it was alive. */
function killTracked(p: Tracked): boolean {
  if (p.group) return killGroup(p.pid, p.pid, p.start);
  return killTree(p.pid, p.start).length > 0;
}

/**
 * Track `pid`, started by the test: it (with every process it started, and its process group when
 * `group`) is SIGKILLed in `t`'s teardown (when `t` is given) and when this process exits.
 */
export function track(t: Teardownable | null, pid: number, opts: { label: string; group?: boolean }): void {
  const p: Tracked = { pid, start: procStart(pid), group: opts.group ?? false, label: opts.label };
  processes.set(pid, p);
  record({ kind: 'process', pid: p.pid, start: p.start, group: p.group, label: p.label });
  t?.teardown(() => {
    killTracked(p);
    processes.delete(pid);
  });
}

/** Kill a tracked process (tree and group) now, before teardown; true when it was alive. */
export function killNow(pid: number): boolean {
  const p = processes.get(pid);
  return p ? killTracked(p) : false;
}

function scan(dir: string, w: Watched): void {
  for (const r of stateInstances(dir)) {
    if (w.seen.has(r.pgid)) continue;
    const p: Tracked = { pid: r.pid, start: r.proc_start ?? null, group: true, label: `instance ${r.id} (${w.label})` };
    w.seen.set(r.pgid, p);
    record({ kind: 'process', pid: p.pid, start: p.start, group: true, label: p.label });
  }
}

/**
 * Watch `runDir`'s state.json (every 100 ms, and once more at the end): every instance it lists is
 * tracked. Its instances still alive are SIGKILLed by group in `t`'s teardown and when this process
 * exits. Call it before the supervisor starts.
 */
export function trackRunDir(t: Teardownable | null, runDir: string, label = runDir): void {
  if (!runDirs.has(runDir)) {
    const w: Watched = { label, seen: new Map(), timer: setInterval(() => scan(runDir, w), 100) };
    w.timer.unref();
    runDirs.set(runDir, w);
    record({ kind: 'run_dir', dir: runDir, label });
  }
  t?.teardown(() => {
    killRunDir(runDir);
  });
}

/**
 * SIGKILL (by group) every instance of `runDir` still alive: those its state.json lists now and every
 * one seen before. Stops the watch. Returns how many were alive.
 */
export function killRunDir(runDir: string): number {
  const w = runDirs.get(runDir);
  if (!w) return 0;
  scan(runDir, w);
  clearInterval(w.timer);
  runDirs.delete(runDir);
  let n = 0;
  for (const p of w.seen.values()) if (killTracked(p)) n++;
  return n;
}

/** Pids of the instances seen in a watched run_dir so far (for tests that want to assert on them). */
export function seenInstances(runDir: string): number[] {
  const w = runDirs.get(runDir);
  if (!w) return [];
  scan(runDir, w);
  return [...w.seen.values()].map((p) => p.pid);
}

/** Run `fn` (synchronous) when this process exits, after the processes are killed. */
export function onProcessExit(fn: () => void): void {
  exitHooks.add(fn);
}

// The last line of defence: whatever is still alive when this process exits, for whatever reason,
// goes with it. What it had to kill is written to the registry, where the run's final check lists it.
onExit(() => {
  const killed: { pid: number; cmd: string; label: string }[] = [];
  for (const p of processes.values()) {
    const cmd = procCmd(p.pid);
    if (killTracked(p)) killed.push({ pid: p.pid, cmd, label: p.label });
  }
  for (const [dir, w] of runDirs) {
    scan(dir, w);
    for (const p of w.seen.values()) {
      const cmd = procCmd(p.pid);
      if (killTracked(p)) killed.push({ pid: p.pid, cmd, label: p.label });
    }
  }
  // Anything else this process started (a child no helper tracked).
  for (const child of processTable()) {
    if (child.ppid !== process.pid || child.state === 'Z') continue;
    const cmd = procCmd(child.pid);
    if (killTree(child.pid).length > 0) killed.push({ pid: child.pid, cmd, label: 'untracked child' });
  }
  for (const k of killed) record({ kind: 'exit_kill', pid: k.pid, start: null, cmd: k.cmd, label: k.label });
  for (const fn of exitHooks) {
    try {
      fn();
    } catch {
      // One failed cleanup must not stop the others.
    }
  }
}, { alwaysLast: true });
