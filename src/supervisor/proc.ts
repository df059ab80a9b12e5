/**
 * Small facts about processes from /proc (Linux): whether a pid is alive and when it started, so a
 * recorded pid is only ever signalled when it is still the very process that was recorded.
 */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The start time of `pid` (field 22 of /proc/<pid>/stat, clock ticks since boot), or null when the
 * process is gone or /proc cannot tell. Sync on purpose: one tiny read, used at spawn and recovery.
 */
export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); field 22 is rest[19]. A zombie is as good as gone.
    if (rest[0] === 'Z') return null;
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** True when `pid` exists (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return procStartTime(pid) !== null || !hasProc();
}

/** True when `pid` is alive and is the process that started at `startTime` (see {@link procStartTime}). */
export function isSameProcess(pid: number, startTime: string | null): boolean {
  if (!hasProc()) return isAlive(pid);
  const now = procStartTime(pid);
  return now !== null && (startTime === null || now === startTime);
}

/** Send `signal` to process group `pgid`; false when the group is gone. */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** True when any process of group `pgid` is still there. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let procChecked: boolean | undefined;
function hasProc(): boolean {
  // Cached fact about the machine, not state: /proc is there or it is not.
  procChecked ??= procStartTime(process.pid) !== null;
  return procChecked;
}

/** The clock ticks /proc counts CPU time in (USER_HZ: 100 on every Linux gracevisor runs on). */
const CLK_TCK = 100;

/** CPU time and resident memory of a process group, summed over its processes. */
export interface GroupUsage {
  cpuSeconds: number;
  rssBytes: number;
}

/**
 * Usage of every process group in `pgids`, from one pass over /proc (each process's pgrp, utime,
 * stime and RSS): a Map with an entry for each group that has a process. Empty where /proc cannot
 * tell. Called when status or metrics are asked for, never on a timer.
 */
export function groupUsage(pgids: ReadonlySet<number>): Map<number, GroupUsage> {
  const out = new Map<number, GroupUsage>();
  if (pgids.size === 0) return out;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[2] is field 5 (pgrp); utime, stime are fields 14, 15; rss (pages) field 24.
    const pgrp = Number(rest[2]);
    if (!pgids.has(pgrp)) continue;
    const cpu = (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
    const rss = Number(rest[21]) * PAGE_SIZE;
    const u = out.get(pgrp) ?? { cpuSeconds: 0, rssBytes: 0 };
    u.cpuSeconds += cpu;
    u.rssBytes += rss;
    out.set(pgrp, u);
  }
  return out;
}

/** Bytes per page, from this process's own /proc/self/statm against status VmRSS (4096 when they cannot say). */
const PAGE_SIZE: number = (() => {
  try {
    const pages = Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]);
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    const size = Math.round((kb * 1024) / pages / 4096) * 4096;
    return size > 0 ? size : 4096;
  } catch {
    return 4096;
  }
})();
