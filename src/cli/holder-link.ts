/**
 * The worker's side of the channel to gracevisord's holder (./holder.ts): the supervisor's Keeper
 * (src/supervisor/handover.ts) over IPC, and the daemon's view of a handover — what to start with,
 * when to freeze, thaw or retire. Only a worker started by the holder (`--worker`) has one.
 */
import type { Keeper } from '../supervisor/handover.js';
import type { InstanceRecord } from '../supervisor/state-file.js';
import type { ToHolder, ToWorker, WirePartials, WorkerMode } from './holder-protocol.js';

/** What the holder said to start with. */
export interface HolderInit {
  mode: WorkerMode;
  previous: { pid: number; code: number | null; signal: string | null } | null;
}

/** What the daemon does when the holder asks it to. */
export interface HolderHandlers {
  /** A successor loaded its config: freeze and hand over the unfinished output. */
  freeze(): Promise<Map<string, { out: Buffer | null; err: Buffer | null }>>;
  /** The successor died before taking over: carry on. */
  thaw(): Promise<void>;
  /** The successor serves: retire and exit. */
  retire(): Promise<void>;
  /** The holder is gone (it was killed): nothing keeps the sockets and apps across a crash now. */
  orphaned(): void;
}

type Send = (msg: ToHolder, handle?: object) => void;

/** The channel to the holder. */
export class HolderLink implements Keeper {
  readonly #send: Send;
  readonly #inherited = new Map<string, object>();
  #partials: WirePartials = {};
  #init: Promise<HolderInit>;
  #resolveInit!: (i: HolderInit) => void;
  #handlers: HolderHandlers | null = null;
  #upgrades = new Map<number, (r: Extract<ToWorker, { t: 'upgrade-result' }>) => void>();
  #nextUpgrade = 0;

  /** Over `proc`'s IPC channel (the worker's own `process`). */
  constructor(proc: NodeJS.Process = process) {
    this.#send = (msg, handle) => {
      if (!proc.connected || !proc.send) return;
      try {
        // The channel closing between the check and the send is the holder going away: nothing to do.
        if (handle) proc.send(msg, handle as never, {}, () => {});
        else proc.send(msg, undefined, {}, () => {});
      } catch {
        // see above
      }
    };
    this.#init = new Promise((r) => (this.#resolveInit = r));
    let pending: Extract<ToWorker, { t: 'init' }> | null = null;
    proc.on('message', (msg: ToWorker, handle?: object) => {
      switch (msg.t) {
        case 'init':
          pending = msg;
          this.#partials = msg.partials;
          break;
        case 'listener':
          if (handle) this.#inherited.set(msg.key, handle);
          break;
        case 'init-done':
          if (pending) this.#resolveInit({ mode: pending.mode, previous: pending.previous });
          break;
        case 'freeze':
          void this.#handlers?.freeze().then((p) => this.#send({ t: 'frozen', partials: toWire(p) }));
          break;
        case 'thaw':
          void this.#handlers?.thaw();
          break;
        case 'retire':
          void this.#handlers?.retire();
          break;
        case 'upgrade-result': {
          const done = this.#upgrades.get(msg.id);
          this.#upgrades.delete(msg.id);
          done?.(msg);
          break;
        }
        default:
          break;
      }
    });
    proc.on('disconnect', () => {
      for (const done of this.#upgrades.values()) done({ t: 'upgrade-result', id: -1, ok: false, code: 'GV_ERR_UPGRADE_FAILED', message: 'the holder went away' });
      this.#upgrades.clear();
      this.#handlers?.orphaned();
    });
  }

  /** Say the config loaded, and wait for how to start (and for the listeners the holder keeps). */
  async loaded(): Promise<HolderInit> {
    this.#send({ t: 'loaded' });
    return this.#init;
  }

  /** What to do when the holder asks. */
  handle(h: HolderHandlers): void {
    this.#handlers = h;
  }

  ready(version: string): void {
    this.#send({ t: 'ready', pid: process.pid, version });
  }

  exiting(code: number, reason: 'shutdown' | 'startup-failed' | 'handover', error?: string): void {
    this.#send({ t: 'exiting', code, reason, ...(error !== undefined && { error }) });
  }

  /** Ask the holder to replace this worker with the gracevisord on disk; resolves with how it went. */
  upgrade(): Promise<Extract<ToWorker, { t: 'upgrade-result' }>> {
    const id = ++this.#nextUpgrade;
    return new Promise((resolve) => {
      this.#upgrades.set(id, resolve);
      this.#send({ t: 'upgrade', id });
    });
  }

  // ---- Keeper ----

  take(key: string): object | null {
    const h = this.#inherited.get(key) ?? null;
    this.#inherited.delete(key);
    return h;
  }

  hold(key: string, handle: object): void {
    this.#send({ t: 'hold', key }, handle);
  }

  drop(key: string): void {
    this.#send({ t: 'drop', key });
  }

  instances(records: readonly InstanceRecord[], runDir: string): void {
    this.#send({ t: 'instances', runDir, records: [...records] });
  }

  partial(instance: string, stream: 'out' | 'err'): Buffer | null {
    const p = this.#partials[instance]?.[stream] ?? null;
    return p === null ? null : Buffer.from(p, 'base64');
  }

  /**
   * Close the listeners the holder handed over that nothing took (their app, or the metrics or TCP
   * control listener, is gone from this config), here and in the holder; returns their keys.
   */
  releaseUntaken(): string[] {
    const keys = [...this.#inherited.keys()];
    for (const key of keys) {
      try {
        (this.#inherited.get(key) as { close?: () => void }).close?.();
      } catch {
        // already closed
      }
      this.#inherited.delete(key);
      this.drop(key);
    }
    return keys;
  }
}

function toWire(p: Map<string, { out: Buffer | null; err: Buffer | null }>): WirePartials {
  const out: WirePartials = {};
  for (const [id, v] of p) out[id] = { out: v.out ? v.out.toString('base64') : null, err: v.err ? v.err.toString('base64') : null };
  return out;
}
