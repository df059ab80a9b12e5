/**
 * Phase 1 under bounds: the config is read and resolved in a worker thread with a memory limit and a
 * deadline, so that no input — a YAML alias bomb that slips past the loader's own bounds, a glob over
 * the whole disk, a bug of ours on a strange text — can exhaust or hang the daemon that serves every
 * app. A worker that runs out of memory or time is stopped, and the load fails with
 * GV_ERR_CONFIG_LIMIT; nothing else changes. The draft comes back as plain data.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { GvConfigError, GvError, type ErrorCode } from '../errors.js';
import type { RuntimeInfo } from './defaults.js';
import type { AppConfig, Config } from './model.js';
import type { AppBase, AppDraft } from './read.js';
import { deepFreeze, type ConfigDraft, type ConfigSources } from './resolve.js';
import type { AppSources } from './sections/app.js';

/** How much memory and time phase 1 may take. */
export interface ReadBounds {
  /** The worker's heap, MiB. */
  maxMemoryMb: number;
  /** Wall time, ms. */
  timeoutMs: number;
}

/** Far above what a real config needs (10 000 apps resolve in well under a second and 100 MiB). */
export const DEFAULT_READ_BOUNDS: ReadBounds = { maxMemoryMb: 512, timeoutMs: 30_000 };

/** A problem as it crosses from the worker. */
interface WireError {
  code: ErrorCode;
  message: string;
}

/** The worker's entry point, beside this file (.ts when run from the sources, .js when built). */
const WORKER = new URL(`./read-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * The flags of this process a worker inherits: only those that say how modules load (a loader or
 * an `--import`ed hook, as tests and TypeScript runners use, conditions, experimental module
 * features) and warnings. Everything else stays out: V8 flags such as `--max-old-space-size` or
 * `--stack-size` make Node refuse to start a worker (the worker's own limits are set below), and
 * `--eval`/`--input-type` are about this process's entry.
 */
const FOR_WORKERS = /^(--import|--require|-r|--loader|--experimental-loader|--conditions|-C|--experimental-[\w-]+|--no-experimental-[\w-]+|--no-warnings|--enable-source-maps|--disable-warning)(=|$)/;
/** Of those, the ones whose value may be the next argument. */
const TAKES_VALUE = /^(--import|--require|-r|--loader|--experimental-loader|--conditions|-C|--disable-warning)$/;

/** `execArgv` reduced to what a worker may and should inherit. */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (!FOR_WORKERS.test(a)) continue;
    out.push(a);
    if (TAKES_VALUE.test(a) && i + 1 < execArgv.length) out.push(execArgv[++i]!);
  }
  return out;
}

/**
 * Run one phase-1 job in a worker under `bounds`. Resolves with the worker's reply when it answered
 * `ok`; rejects with a GvConfigError of its problems otherwise, or of GV_ERR_CONFIG_LIMIT when it
 * ran out of memory or time.
 */
function runBounded<T extends { errors: WireError[] }>(job: Record<string, unknown> & { path: string }, bounds: ReadBounds): Promise<T> {
  const limit = (what: 'memory' | 'time', message: string): GvConfigError =>
    new GvConfigError([new GvError('GV_ERR_CONFIG_LIMIT', message, { details: { path: job.path, limit: what, ...(what === 'memory' ? { maxMemoryMb: bounds.maxMemoryMb } : { timeoutMs: bounds.timeoutMs }) } })]);
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, {
      workerData: job,
      execArgv: workerExecArgv(process.execArgv),
      resourceLimits: { maxOldGenerationSizeMb: bounds.maxMemoryMb, maxYoungGenerationSizeMb: Math.min(64, bounds.maxMemoryMb), stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      void worker.terminate();
    };
    const timer = setTimeout(() => finish(() => reject(limit('time', `reading the config took longer than ${bounds.timeoutMs} ms; stopped`))), bounds.timeoutMs);
    worker.once('message', (reply: ({ ok: true } & T) | { ok: false; errors: WireError[] }) => finish(() => {
      if (reply.ok) resolve(reply);
      else reject(new GvConfigError(reply.errors.map((e) => GvError.from(e))));
    }));
    worker.once('error', (err: Error & { code?: string }) => finish(() => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') reject(limit('memory', `reading the config needed more than ${bounds.maxMemoryMb} MiB of memory; stopped`));
      else reject(new GvConfigError([GvError.from(err)]));
    }));
    worker.once('exit', (code) => finish(() => reject(new GvConfigError([new GvError('GV_ERR_INTERNAL', `the config reader stopped (exit ${code}) without an answer`, { details: { path: job.path } })]))));
  });
}

/**
 * Phase 1 of `path` in a worker. Resolves with the draft (its problems in `errors`); rejects with a
 * GvConfigError when the main file cannot be read or parsed at all, or when a bound was hit.
 */
export async function readConfigBounded(path: string, opts: { runtime?: RuntimeInfo; bounds?: ReadBounds } = {}): Promise<ConfigDraft> {
  const reply = await runBounded<{ config: Config; sources: ConfigSources; errors: WireError[]; warnings: WireError[] }>({ kind: 'config', path, runtime: opts.runtime }, opts.bounds ?? DEFAULT_READ_BOUNDS);
  return { config: deepFreeze(reply.config), sources: reply.sources, errors: reply.errors.map((e) => GvError.from(e)), warnings: reply.warnings.map((e) => GvError.from(e)) };
}

/** Phase 1 of one app file in a worker (see {@link readConfigBounded}). */
export async function readAppFileBounded(path: string, base: AppBase | null, opts: { bounds?: ReadBounds } = {}): Promise<AppDraft> {
  const reply = await runBounded<{ app: AppConfig | null; sources: AppSources | null; errors: WireError[] }>({ kind: 'app', path, base }, opts.bounds ?? DEFAULT_READ_BOUNDS);
  return { app: reply.app, sources: reply.sources, errors: reply.errors.map((e) => GvError.from(e)) };
}
