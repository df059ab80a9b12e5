/**
 * Temporary directories for tests, removed in teardown even when the test fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Anything with tap's `teardown`. */
export interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

/** A fresh directory under the system tmp dir, removed when `t` ends. */
export function tempDir(t: Teardownable, prefix = 'gv-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
