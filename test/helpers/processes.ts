/**
 * Process cleanup for tests: kill only what the test started, by pid (or process group), in teardown.
 */
import type { Teardownable } from './tmp.js';

/** True when `pid` exists (zombies aside). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILL `pid` (and its process group when it leads one) when `t` ends, if still there. */
export function killOnTeardown(t: Teardownable, pid: number, group = false): void {
  t.teardown(() => {
    for (const target of group ? [-pid, pid] : [pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
}
