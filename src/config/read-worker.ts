/**
 * The worker thread of ./bounded-read.ts: runs phase 1 (./read.ts) on the path it is given — a main
 * config, or one app file — and posts back the draft, or the problems that stopped it, as plain
 * data. Nothing else runs here, so a runaway config can only exhaust this worker's heap and time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GvConfigError, GvError } from '../errors.js';
import type { RuntimeInfo } from './defaults.js';
import { readAppFile, readConfig, type AppBase } from './read.js';

const job = workerData as { kind: 'config'; path: string; runtime?: RuntimeInfo } | { kind: 'app'; path: string; base: AppBase | null };
try {
  if (job.kind === 'config') {
    const draft = await readConfig(job.path, job.runtime ? { runtime: job.runtime } : {});
    parentPort!.postMessage({ ok: true, config: draft.config, sources: draft.sources, errors: draft.errors.map((e) => e.toJSON()), warnings: draft.warnings.map((e) => e.toJSON()) });
  } else {
    const draft = await readAppFile(job.path, job.base);
    parentPort!.postMessage({ ok: true, app: draft.app, sources: draft.sources, errors: draft.errors.map((e) => e.toJSON()) });
  }
} catch (err) {
  const errors = err instanceof GvConfigError ? err.errors : [GvError.from(err)];
  parentPort!.postMessage({ ok: false, errors: errors.map((e) => e.toJSON()) });
}
