/**
 * Process cleanup for tests: kill only what the test started, by pid (or process group), in teardown
 * and, should the teardown never run (tap's timeout, a crash), when the test process exits
 * (test/helpers/registry.ts).
 */
import { procStart } from './leftovers.mjs';
import { track } from './registry.js';
import type { Teardownable } from './tmp.js';

/** True when `pid` exists and is not a zombie (a killed child not yet reaped is gone). */
export function alive(pid: number): boolean {
  return procStart(pid) !== null;
}

/** SIGKILL `pid` (with what it started, and its process group when it leads one) when `t` ends, if still there. */
export function killOnTeardown(t: Teardownable, pid: number, group = false): void {
  track(t, pid, { label: `child ${pid}`, group });
}
