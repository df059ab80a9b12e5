/**
 * The hook runner: the only place the hook table's run modes are applied. The supervisor owns one
 * `Hooks` (no global state); plugins get a {@link HookSubscriber} view that can subscribe but not
 * emit. `pre*` hooks run in series and may veto; `on*` hooks run in parallel, isolated, and a handler
 * that throws, rejects or hangs is reported through `onError` with the plugin's name and the hook's.
 */
import { suggest } from '../config/suggest.js';
import { GvError } from '../errors.js';
import { HOOK_MODES, type HookContext, type HookName, type HookSubscriber, type HookTable } from './types.js';

/** Where a handler sits relative to the others for one hook. */
export type HookOrder = 'pre' | 'normal' | 'post';

/** The base logger hooks tag with the plugin's name before a handler sees it. */
export type HookLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** Options of a {@link Hooks} runner. */
export interface HooksOptions {
  /** How long one handler may take before it is a GV_ERR_HOOK_TIMEOUT, ms. Default 5000. */
  timeoutMs?: number;
  /**
   * Called for every failure of an `on*` handler (GV_ERR_HOOK_HANDLER or GV_ERR_HOOK_TIMEOUT, with
   * `details: { plugin, hook }`). Never called for `pre*` hooks: their failures reject `runPre`.
   */
  onError?: (err: GvError) => void;
  /** The daemon's log; a handler's `ctx.log` writes here with `plugin` added to its fields. */
  log?: HookLog;
}

interface Subscription {
  plugin: string;
  order: HookOrder;
  handler: (ctx: HookContext, event: unknown) => unknown;
}

const ORDER_RANK: Record<HookOrder, number> = { pre: 0, normal: 1, post: 2 };

/** True when `name` is a hook of the table. */
export function isHookName(name: string): name is HookName {
  return Object.prototype.hasOwnProperty.call(HOOK_MODES, name);
}

/** The event argument of hook `K`. */
export type HookEvent<K extends HookName> = Parameters<HookTable[K]>[1];

/** Hook names that run in series and may veto. */
export type PreHookName = { [K in HookName]: K extends `pre${string}` ? K : never }[HookName];
/** Hook names that report and run in parallel. */
export type OnHookName = Exclude<HookName, PreHookName>;

/** The runner of the hook table for one supervisor. */
export class Hooks {
  readonly #timeoutMs: number;
  readonly #onError: (err: GvError) => void;
  readonly #log: HookLog;
  /** Per hook, handlers kept sorted: 'pre' first, then registration order, then 'post'. */
  readonly #subs = new Map<HookName, Subscription[]>();

  constructor(opts: HooksOptions = {}) {
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#onError = opts.onError ?? (() => {});
    this.#log = opts.log ?? (() => {});
  }

  /**
   * Subscribe `handler` to `name` on behalf of `plugin`. Throws GV_ERR_PLUGIN_UNKNOWN_HOOK or
   * GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION (both naming the plugin). Returns the unsubscribe function.
   */
  add<K extends HookName>(plugin: string, name: K, handler: HookTable[K], order: HookOrder = 'normal'): () => void {
    if (typeof name !== 'string' || !isHookName(name)) {
      const suggestion = suggest(String(name), Object.keys(HOOK_MODES));
      throw new GvError('GV_ERR_PLUGIN_UNKNOWN_HOOK', `plugin ${plugin}: ${String(name)} is not a hook${suggestion ? `; did you mean ${suggestion}?` : ''}`, { details: { plugin, hook: name, suggestion } });
    }
    if (typeof handler !== 'function') {
      throw new GvError('GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', `plugin ${plugin}: the handler of ${name} is not a function`, { details: { plugin, hook: name } });
    }
    const sub: Subscription = { plugin, order, handler: handler as Subscription['handler'] };
    const list = this.#subs.get(name) ?? [];
    // Insert after the last handler of the same or an earlier rank, so registration order holds within a rank.
    let at = list.length;
    while (at > 0 && ORDER_RANK[list[at - 1]!.order] > ORDER_RANK[order]) at--;
    list.splice(at, 0, sub);
    this.#subs.set(name, list);
    return () => {
      const i = list.indexOf(sub);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** A view for `plugin` that can subscribe, never emit (what alerters and plugin code get). */
  subscriber(plugin: string): HookSubscriber {
    return { on: (name, handler) => this.add(plugin, name, handler) };
  }

  /** How many handlers `name` has (for status and tests). */
  count(name: HookName): number {
    return this.#subs.get(name)?.length ?? 0;
  }

  /**
   * Run the `pre*` hook `name` in series. Resolves when every handler agreed; rejects with
   * GV_ERR_HOOK_VETO (a handler threw or returned false) or GV_ERR_HOOK_TIMEOUT (a handler hung,
   * which vetoes too), each with `details: { plugin, hook }`. Later handlers do not run after a veto.
   */
  async runPre<K extends PreHookName>(name: K, app: string | null, event: HookEvent<K>): Promise<void> {
    for (const sub of [...(this.#subs.get(name) ?? [])]) {
      let result: unknown;
      try {
        result = await this.#call(sub, name, app, event);
      } catch (err) {
        if (err instanceof GvError && err.code === 'GV_ERR_HOOK_TIMEOUT') throw err;
        throw new GvError('GV_ERR_HOOK_VETO', `${name} vetoed by plugin ${sub.plugin}: ${errorText(err)}`, { cause: err, details: { plugin: sub.plugin, hook: name } });
      }
      if (result === false) {
        throw new GvError('GV_ERR_HOOK_VETO', `${name} vetoed by plugin ${sub.plugin}`, { details: { plugin: sub.plugin, hook: name } });
      }
    }
  }

  /**
   * Run the `on*` hook `name`: every handler in parallel, isolated. The returned promise always
   * resolves, once every handler settled or timed out; failures go to `onError`, never to the caller.
   */
  async emit<K extends OnHookName>(name: K, app: string | null, event: HookEvent<K>): Promise<void> {
    const subs = this.#subs.get(name);
    if (!subs || subs.length === 0) return;
    await Promise.all([...subs].map(async (sub) => {
      try {
        await this.#call(sub, name, app, event);
      } catch (err) {
        const gv = err instanceof GvError && err.code === 'GV_ERR_HOOK_TIMEOUT'
          ? err
          : new GvError('GV_ERR_HOOK_HANDLER', `plugin ${sub.plugin}: ${name} handler failed: ${errorText(err)}`, { cause: err, details: { plugin: sub.plugin, hook: name } });
        try {
          this.#onError(gv);
        } catch {
          // A broken error reporter must not turn an isolated hook failure into a crash.
        }
      }
    }));
  }

  /** One handler call under the timeout; a synchronous throw becomes a rejection. */
  async #call(sub: Subscription, name: HookName, app: string | null, event: unknown): Promise<unknown> {
    const ctx: HookContext = {
      app,
      log: (level, msg, fields) => this.#log(level, msg, { ...fields, plugin: sub.plugin }),
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new GvError('GV_ERR_HOOK_TIMEOUT', `plugin ${sub.plugin}: ${name} handler did not settle within ${this.#timeoutMs} ms`, { details: { plugin: sub.plugin, hook: name } }));
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(() => sub.handler(ctx, event)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
