/**
 * A real supervisor daemon process for tests (test/fixtures/run-supervisor.mjs), started with tap's
 * TypeScript loader; killed by pid in teardown along with the process groups of its instances.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { AppStatus } from '../../src/supervisor/api.js';
import { REPO } from './config.js';
import type { Teardownable } from './tmp.js';

/** A started daemon process. */
export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  /** `READY` status, or the error when it printed `FAILED`. */
  ready: Promise<{ ok: true; status: AppStatus[] } | { ok: false; error: { code: string; message: string } }>;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Start a daemon on `configFile`; it and every instance pid it reported are SIGKILLed in teardown. */
export function startDaemon(t: Teardownable, configFile: string, opts: { uid?: number } = {}): DaemonProcess {
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
  const pgids: number[] = [];
  t.teardown(() => {
    for (const target of [child.pid!, ...pgids.map((p) => -p)]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const ready = new Promise<Awaited<DaemonProcess['ready']>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) {
        const status = JSON.parse(line.slice(6)) as AppStatus[];
        for (const a of status) for (const i of a.instances) if (i.pid) pgids.push(i.pid);
        resolve({ ok: true, status });
      } else if (line.startsWith('FAILED ')) {
        resolve({ ok: false, error: JSON.parse(line.slice(7)) });
      }
    });
    void exited.then((e) => reject(new Error(`daemon exited before it was ready (${JSON.stringify(e)})`)));
  });
  return { child, pid: child.pid!, ready, exited };
}
