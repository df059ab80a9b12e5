/**
 * Running a Supervisor inside a test: loaded from a config file, started, shut down in teardown;
 * and a recorder plugin that keeps every hook event with its time, for asserting order.
 * The supervisor's run_dir is watched (test/helpers/registry.ts): every instance it spawns is killed by
 * process group after the teardown's shutdown (which is bounded: a shutdown that hangs does not hold
 * the teardown) and when the test process exits, even when tap's timeout ends it.
 */
import { createRegistry } from '../../src/builtins.js';
import { HOOK_MODES, type HookName, type Plugin } from '../../src/plugins/types.js';
import { Supervisor, type SupervisorOptions } from '../../src/supervisor/supervisor.js';
import { killRunDir, trackRunDir } from './registry.js';
import type { Teardownable } from './tmp.js';

/** One recorded hook call. */
export interface HookRecord {
  hook: HookName;
  app: string | null;
  at: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  e: any;
}

/** A plugin recording every hook (pre* hooks always agree) and the records. */
export function recorder(name = 'test:recorder'): { plugin: Plugin; events: HookRecord[]; of(hook: HookName, app?: string): HookRecord[] } {
  const events: HookRecord[] = [];
  const hooks: Record<string, unknown> = {};
  for (const hook of Object.keys(HOOK_MODES) as HookName[]) {
    hooks[hook] = (ctx: { app: string | null }, e: unknown) => {
      events.push({ hook, app: ctx.app, at: Date.now(), e });
    };
  }
  return {
    plugin: { name, apiVersion: 1, hooks } as Plugin,
    events,
    of: (hook, app) => events.filter((r) => r.hook === hook && (app === undefined || r.app === app)),
  };
}

/**
 * Test-friendly timings: quick backoff, short stability window; the built-in plugins; the config read
 * in this thread (a worker would compile the TypeScript sources again: a second per load).
 */
export const FAST: SupervisorOptions = { createRegistry, configBounds: false, backoff: { baseMs: 100, maxMs: 2000, stableMs: 60_000 }, recoveryGraceMs: 1000 };

/** How long a teardown waits for a graceful shutdown before it kills what is left. */
const SHUTDOWN_DEADLINE_MS = 60_000;

/**
 * Load a Supervisor for `file` (not started). In `t`'s teardown it is shut down (up to a minute) and
 * any instance of its run_dir still alive afterwards is SIGKILLed by group.
 */
export async function loadSupervisor(t: Teardownable, file: string, opts: Partial<SupervisorOptions> = {}): Promise<Supervisor> {
  const sup = await Supervisor.load(file, { ...FAST, ...opts });
  const runDir = sup.config.run_dir;
  trackRunDir(null, runDir, `supervisor ${file}`);
  t.teardown(async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      sup.shutdown('test-teardown').catch(() => undefined),
      new Promise((r) => { timer = setTimeout(r, SHUTDOWN_DEADLINE_MS); }),
    ]);
    clearTimeout(timer);
    killRunDir(runDir);
  });
  return sup;
}

/** Load and start a Supervisor for `file`; it is shut down when `t` ends (see {@link loadSupervisor}). */
export async function startSupervisor(t: Teardownable, file: string, opts: Partial<SupervisorOptions> = {}): Promise<Supervisor> {
  const sup = await loadSupervisor(t, file, opts);
  await sup.start();
  return sup;
}
