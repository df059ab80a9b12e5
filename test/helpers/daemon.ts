/**
 * A real supervisor daemon process for tests (test/fixtures/run-supervisor.mjs), started with tap's
 * TypeScript loader. It and every instance it starts (its run_dir's state.json is watched from before
 * it starts) are SIGKILLed, by process group, in teardown and when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'yaml';
import type { AppStatus } from '../../src/supervisor/api.js';
import { REPO } from './config.js';
import { track, trackRunDir } from './registry.js';
import type { Teardownable } from './tmp.js';
import { within } from './wait.js';

/** A started daemon process. */
export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  /** `READY` status, or the error when it printed `FAILED`; rejects when it exits first or takes over a minute. */
  ready: Promise<{ ok: true; status: AppStatus[] } | { ok: false; error: { code: string; message: string } }>;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** The run_dir a YAML config names (the folder of the file when it names none), for the watch. */
function runDirOf(configFile: string): string | null {
  try {
    const doc = parse(readFileSync(configFile, 'utf8')) as { run_dir?: string } | null;
    return doc?.run_dir ? resolve(dirname(configFile), doc.run_dir) : null;
  } catch {
    return null;
  }
}

/** Start a daemon on `configFile`; it and every instance it starts are SIGKILLed in teardown. */
export function startDaemon(t: Teardownable, configFile: string, opts: { uid?: number } = {}): DaemonProcess {
  const runDir = runDirOf(configFile);
  if (runDir) trackRunDir(t, runDir, `run-supervisor ${configFile}`);
  const args = ['--import', '@tapjs/typescript/import', 'test/fixtures/run-supervisor.mjs', configFile];
  // As another user (root only): through setpriv, which execs, so the pid is the daemon's.
  const [file, argv] = opts.uid === undefined
    ? [process.execPath, args]
    : ['setpriv', [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', '--', process.execPath, ...args]];
  const child = spawn(file, argv, {
    cwd: REPO,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', ...(opts.uid !== undefined && { HOME: '/tmp' }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  track(t, child.pid!, { label: `run-supervisor ${configFile}` });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const ready = new Promise<Awaited<DaemonProcess['ready']>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) resolve({ ok: true, status: JSON.parse(line.slice(6)) as AppStatus[] });
      else if (line.startsWith('FAILED ')) resolve({ ok: false, error: JSON.parse(line.slice(7)) });
    });
    void exited.then((e) => reject(new Error(`daemon exited before it was ready (${JSON.stringify(e)})`)));
  });
  return { child, pid: child.pid!, ready: within(ready, 60_000, `daemon ${configFile} ready`), exited };
}
