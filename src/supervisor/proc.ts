/**
 * Small facts about processes from /proc (Linux): whether a pid is alive and when it started, so a
 * recorded pid is only ever signalled when it is still the very process that was recorded.
 */
import { readFileSync } from 'node:fs';

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
