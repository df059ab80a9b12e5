/**
 * How an app's serving instances change (docs/architecture.md "Restart data flow"): a rolling
 * restart, topping up to `instances`, replacing unhealthy instances, retiring extras, and stopping
 * them all. Each step follows the same order: a new instance is spawned and ready before `preSwitch`
 * and the switch; an old one drains through the engine before it is stopped. The App runs these one
 * at a time through its queue and owns the state; this owns only the order of the steps.
 */
import { GvError } from '../errors.js';
import type { AppConfig } from '../config/model.js';
import type { Engine } from '../plugins/engine.js';
import type { HookSink, Instance } from './instance.js';

/** Why a new instance is started (the `preInstanceStart` hook is told). */
export type StartReason = 'start' | 'restart' | 'replace' | 'scale';

/** What a rollout needs from its App. */
export interface RolloutHost {
  readonly name: string;
  /** The config instances start with now. */
  readonly config: AppConfig;
  readonly engine: Engine;
  readonly hooks: HookSink;
  /** The instances the engine sends new work to. */
  readonly serving: readonly Instance[];
  /** True while the app should be running (not stopped, not given up, not removed). */
  wantsToRun(): boolean;
  /** Point the engine at `next`; `removed` is the instance that stopped getting work. */
  setServing(next: Instance[], removed: Instance | null): void;
  /** A new instance, started and ready (`serving`), not yet given any work. */
  spawnReady(reason: StartReason): Promise<Instance>;
}

/** The steps that change which instances serve one app. */
export class Rollout {
  readonly #host: RolloutHost;

  constructor(host: RolloutHost) {
    this.#host = host;
  }

  /**
   * A rolling restart: each serving instance in turn is replaced (or retired when there are more
   * than `instances`), then the app is topped up. Throws the first failure; what was replaced stays.
   */
  async restart(): Promise<void> {
    const h = this.#host;
    for (const old of [...h.serving]) {
      if (!h.serving.includes(old)) continue; // crashed meanwhile
      if (h.serving.length > h.config.instances) {
        h.setServing(h.serving.filter((i) => i !== old), old);
        await this.retire(old);
        continue;
      }
      await this.replace(old, 'restart');
    }
    await this.fill('restart');
  }

  /**
   * Replace unhealthy instances, top up to `instances`, retire extras. Resolves with how many new
   * instances now serve; throws the first failure.
   */
  async reconcile(reason: StartReason): Promise<number> {
    const h = this.#host;
    let started = 0;
    for (const inst of [...h.serving]) {
      if (inst.state === 'unhealthy' && h.serving.includes(inst)) {
        await this.replace(inst, 'replace');
        started++;
      }
    }
    started += await this.fill(reason);
    while (h.serving.length > h.config.instances) {
      const extra = h.serving[0]!;
      h.setServing(h.serving.slice(1), extra);
      await this.retire(extra);
    }
    return started;
  }

  /** Start instances until `instances` serve (in parallel); resolves with how many; throws the first failure. */
  async fill(reason: StartReason): Promise<number> {
    const h = this.#host;
    const missing = h.config.instances - h.serving.length;
    if (missing <= 0 || !h.wantsToRun()) return 0;
    const results = await Promise.allSettled(Array.from({ length: missing }, async () => {
      const fresh = await h.spawnReady(reason);
      await this.#preSwitch([], fresh);
      h.setServing([...h.serving, fresh], null);
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return missing;
  }

  /** One step of a rolling restart: a ready new instance takes `old`'s place, then `old` drains and stops. */
  async replace(old: Instance, reason: StartReason): Promise<void> {
    const h = this.#host;
    const fresh = await h.spawnReady(reason);
    await this.#preSwitch([old], fresh);
    if (!h.wantsToRun()) {
      await fresh.stop();
      throw new GvError('GV_ERR_APP_STATE', `app ${h.name} was stopped during the restart`);
    }
    const rest = h.serving.filter((i) => i !== old);
    h.setServing([...rest, fresh], h.serving.includes(old) ? old : null);
    await this.retire(old);
  }

  /** Drain `inst` through the engine (up to `drain_timeout`), then stop its process. */
  async retire(inst: Instance): Promise<void> {
    const h = this.#host;
    if (inst.gone) return;
    if (inst.state === 'serving' || inst.state === 'unhealthy' || inst.state === 'draining') {
      inst.markDraining(inFlightOf(h.engine, inst.id));
      const r = await h.engine.drain(inst.target, h.config.drain_timeout);
      void h.hooks.emit('onInstanceDrained', h.name, { instance: inst.info(), drained: r.drained, open: r.open, elapsedMs: r.elapsedMs });
    }
    await inst.stop();
  }

  /** No new work to any instance; drain and stop every one in `all` (a stop, a removal). */
  async retireAll(all: readonly Instance[]): Promise<void> {
    this.#host.setServing([], null);
    await Promise.all(all.map((i) => this.retire(i)));
  }

  async #preSwitch(from: Instance[], to: Instance): Promise<void> {
    try {
      await this.#host.hooks.runPre('preSwitch', this.#host.name, { from: from.map((i) => i.info()), to: to.info() });
    } catch (err) {
      await to.stop();
      throw err;
    }
  }
}

/** Work in flight on one target now, from the engine's counters (0 when it cannot say). */
function inFlightOf(engine: Engine, id: string): number {
  try {
    return engine.stats().targets.find((t) => t.id === id)?.inFlight ?? 0;
  } catch {
    return 0;
  }
}
