/**
 * `gracevisord --check` / `--print`: the config check with the registry the daemon builds — the
 * built-in plugins (src/builtins.ts), then the config's own — and the same three phases, so that a
 * config naming an engine that is unknown or unavailable here fails the check, not only the start.
 */
import { createRegistry } from '../builtins.js';
import { runCheck, type CheckResult } from '../config/check.js';
import { DEFAULT_READ_BOUNDS } from '../config/load.js';
import { configLoadOptions } from '../plugins/loader.js';

/** Check (or print) the config at `path`; returns what to write and the exit status. */
export async function checkConfig(path: string, print: boolean): Promise<CheckResult> {
  return runCheck(path, { print, bounds: DEFAULT_READ_BOUNDS, ...configLoadOptions(createRegistry()) });
}
