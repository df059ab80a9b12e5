/**
 * Writing gracevisor configs for tests: a YAML main file in a temp dir, with a free port range, a
 * run_dir and log_dir inside the dir, and apps given as plain objects (snake_case keys as in YAML).
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freePort, freePortRange } from './ports.js';

/** The repo root (tests run from it, but do not rely on cwd). */
export const REPO = resolve(new URL('../..', import.meta.url).pathname);
/** The purpose-built test app. */
export const BEHAVE_APP = join(REPO, 'test/fixtures/apps/behave.mjs');
/** The demo app. */
export const DEMO_APP = join(REPO, 'examples/demoapp.mjs');

/**
 * How tests start node apps: tap's process-info hook injects itself into NODE_OPTIONS of every child
 * the test process spawns; `env -u` (which execs, so the pid stays the app's) drops it, and the apps
 * start about three times faster.
 */
export const NODE_BARE = `/usr/bin/env -u NODE_OPTIONS ${process.execPath}`;

/** What {@link writeConfig} wrote. */
export interface TestConfig {
  file: string;
  dir: string;
  runDir: string;
  logDir: string;
  portRange: { from: number; to: number };
  /** Rewrite the file with other apps (same range, run and log dirs). */
  rewrite(apps: Record<string, unknown>[], extra?: Record<string, unknown>): void;
}

/** An app entry for `behave.mjs` on a fresh external port; `over` overrides or adds keys. */
export async function behaveApp(name: string, modeFile: string, over: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const { environment, ...rest } = over;
  return {
    name,
    command: `${NODE_BARE} ${BEHAVE_APP} --port={port}`,
    environment: (environment as string[] | undefined) ?? [`GV_MODE_FILE=${modeFile}`],
    internal_host: '127.0.0.1',
    external_host: '127.0.0.1',
    external_port: await freePort(),
    start_timeout: '10s',
    stop_timeout: '5s',
    drain_timeout: '10s',
    ...rest,
  };
}

/** Write `<dir>/gracevisor.yaml` with `apps`. */
export async function writeConfig(dir: string, apps: Record<string, unknown>[], extra: Record<string, unknown> = {}, rangeSize = 40): Promise<TestConfig> {
  const portRange = await freePortRange(rangeSize);
  const file = join(dir, 'gracevisor.yaml');
  const runDir = join(dir, 'run');
  const logDir = join(dir, 'log');
  const write = (list: Record<string, unknown>[], more: Record<string, unknown>): void => {
    const doc = { port_range: portRange, run_dir: runDir, logger: { log_dir: logDir }, ...more, apps: list };
    writeFileSync(file, stringify(doc));
  };
  write(apps, extra);
  return { file, dir, runDir, logDir, portRange, rewrite: (list, more = extra) => write(list, more) };
}
