// Processes a test run started and must not leave behind: facts from /proc, killing a process with
// everything it started, and the run's registry (one small file per process, process group or run_dir
// a test started) that scripts/test.mjs sweeps after tap has finished. Plain JavaScript so that
// scripts/test.mjs can import it without tap's TypeScript loader; test/helpers/registry.ts wraps it
// for the tests.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** The environment variable naming this run's registry folder (scripts/test.mjs sets it). */
export const REGISTRY_ENV = 'GV_TEST_REGISTRY';

/** This run's registry folder, or null (a test run without scripts/test.mjs: nothing is recorded). */
export function registryDir(env = process.env) {
  return env[REGISTRY_ENV] || null;
}

/** Fields after `comm` in /proc/<pid>/stat (rest[0] is field 3, the state), or null when gone. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * The start time of `pid` (field 22 of /proc/<pid>/stat, as the supervisor's state file records it),
 * or null when the process is gone or a zombie (as good as gone).
 */
export function procStart(pid) {
  const f = statFields(pid);
  if (!f || f[0] === 'Z') return null;
  return f[19] ?? null;
}

/** The command line of `pid`, for a report (empty when gone). */
export function procCmd(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 300);
  } catch {
    return '';
  }
}

/**
 * True while any process of group `pgid` is alive. A group of zombies (killed, not yet reaped by init)
 * is gone for our purposes, so /proc is asked rather than kill(-pgid, 0), which counts them.
 */
export function groupAlive(pgid, table = null) {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if (err.code !== 'EPERM') return false;
  }
  return (table ?? processTable()).some((p) => p.pgid === pgid && p.state !== 'Z');
}

/** Every process now: pid, parent, group, state (one pass over /proc). */
export function processTable() {
  const out = [];
  let names;
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    out.push({ pid: Number(name), state: f[0], ppid: Number(f[1]), pgid: Number(f[2]) });
  }
  return out;
}

const OWN_GROUP = statFields(process.pid)?.[2];
/** Never signal this process or its own group (the test runner's group may hold tap itself). */
function mine(pid) {
  return pid === process.pid || String(pid) === OWN_GROUP;
}

function signal(target, sig) {
  try {
    process.kill(target, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGKILL `root` (when it is still the process that started at `start`; null: any), every process it
 * started (its descendants) and every process group any of them leads. Everything is stopped first
 * (SIGSTOP), so that nothing spawns, or is reparented to init, between the look and the kill: a daemon
 * SIGKILLed first would orphan its instances before they could be found. Synchronous, so it can run
 * in an 'exit' handler. Returns the pids that were alive.
 */
export function killTree(root, start = null) {
  if (mine(root)) return [];
  const now = procStart(root);
  if (now === null || (start !== null && now !== start)) return [];
  signal(root, 'SIGSTOP');
  const found = new Set([root]);
  // Children spawned between two looks are found by the next one; stopped processes spawn nothing.
  for (let pass = 0; pass < 5; pass++) {
    const table = processTable();
    const before = found.size;
    for (const p of table) {
      if (found.has(p.ppid) && !found.has(p.pid) && !mine(p.pid) && p.state !== 'Z') {
        found.add(p.pid);
        signal(p.pid, 'SIGSTOP');
      }
    }
    if (found.size === before) break;
  }
  const groups = new Set();
  for (const p of processTable()) if (found.has(p.pid) && p.pgid === p.pid) groups.add(p.pid);
  for (const g of groups) if (!mine(g)) signal(-g, 'SIGKILL');
  for (const p of found) signal(p, 'SIGKILL');
  return [...found];
}

/**
 * SIGKILL process group `pgid` when it is still the group that `leader` (started at `start`) led: the
 * leader is that very process, or the leader is gone and members remain (a group id is not reused
 * while the group exists). Returns true when something was alive.
 */
export function killGroup(pgid, leader = pgid, start = null) {
  if (mine(pgid)) return false;
  const now = procStart(leader);
  if (now !== null) {
    if (start !== null && now !== start) return false;
    // The leader and what it started, and then the rest of its group.
    killTree(leader, now);
    signal(-pgid, 'SIGKILL');
    return true;
  }
  if (groupAlive(pgid)) {
    signal(-pgid, 'SIGKILL');
    return true;
  }
  return false;
}

/** The instances a supervisor's `<runDir>/state.json` lists (pid, pgid, proc_start), or []. */
export function stateInstances(runDir) {
  try {
    const doc = JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8'));
    return Array.isArray(doc.instances) ? doc.instances.filter((r) => Number.isInteger(r?.pid) && r.pid > 1) : [];
  } catch {
    return [];
  }
}

/**
 * Put one entry in this run's registry (a no-op without one):
 *   { kind: 'process', pid, start, group, label }   a process (and its group when `group`)
 *   { kind: 'run_dir', dir, label }                 every instance its state.json lists
 *   { kind: 'exit_kill', pid, cmd, label }          killed by a test process's exit handler (a report)
 */
export function record(entry) {
  const dir = registryDir();
  if (!dir) return;
  const key = entry.kind === 'run_dir' ? createHash('sha1').update(entry.dir).digest('hex').slice(0, 12) : `${entry.pid}-${entry.start ?? Date.now()}`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${entry.kind}-${key}.json`), JSON.stringify({ ...entry, owner: process.pid, ownerFile: process.argv[1] ?? null }));
  } catch {
    // A registry that cannot be written only weakens the final check; the tests go on.
  }
}

/** The entries of a registry folder. */
export function entries(dir) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(readFileSync(join(dir, n), 'utf8')));
    } catch {
      // Half-written by a process that died mid-write: nothing to go on.
    }
  }
  return out;
}

/**
 * After a run: every process the registry names that is still alive is described, killed (with its
 * tree and group), and returned; `exit_kill` reports are returned apart. The folder is removed.
 */
export function sweep(dir) {
  const leftovers = [];
  const exitKills = [];
  const describe = (e, pid, pgid) => ({ pid, pgid, label: e.label ?? e.dir ?? '', owner: e.owner, ownerFile: e.ownerFile, cmd: procCmd(pid) || `(process group ${pgid})` });
  for (const e of entries(dir)) {
    if (e.kind === 'exit_kill') {
      exitKills.push(e);
    } else if (e.kind === 'process') {
      const alive = procStart(e.pid) !== null && (e.start === null || procStart(e.pid) === e.start);
      if (alive) {
        leftovers.push(describe(e, e.pid, e.group ? e.pid : null));
        if (e.group) killGroup(e.pid, e.pid, e.start);
        else killTree(e.pid, e.start);
      } else if (e.group && groupAlive(e.pid)) {
        leftovers.push(describe(e, e.pid, e.pid));
        killGroup(e.pid, e.pid, e.start);
      }
    } else if (e.kind === 'run_dir') {
      for (const r of stateInstances(e.dir)) {
        const alive = procStart(r.pid) !== null && (r.proc_start == null || procStart(r.pid) === r.proc_start);
        if (alive || groupAlive(r.pgid)) {
          leftovers.push({ ...describe(e, r.pid, r.pgid), label: `instance ${r.id} of ${e.dir}` });
          killGroup(r.pgid, r.pid, r.proc_start ?? null);
        }
      }
    }
  }
  // The same process may be named by a process entry and by a run_dir: report it once.
  const seen = new Set();
  const unique = leftovers.filter((l) => (seen.has(l.pid) ? false : (seen.add(l.pid), true)));
  rmSync(dir, { recursive: true, force: true });
  return { leftovers: unique, exitKills };
}
