/**
 * The plugin registry of one supervisor: every engine, health check and alerter, built-in or
 * third-party, is registered here through `register()` under a namespaced id (`engines.http`,
 * `healthchecks.tcp`, `alerters.webhook`). Registration checks the whole plugin first and changes
 * nothing when any check fails. There is no global registry: each Supervisor builds its own.
 */
import { suggest } from '../config/suggest.js';
import { GvError, type ErrorCode } from '../errors.js';
import type { ConfigRegistryView } from '../config/validate.js';
import type { EngineDefinition } from './engine.js';
import { Hooks, isHookName, type HookOrder } from './hooks.js';
import {
  API_VERSION,
  HOOK_MODES,
  type AlerterDefinition,
  type HealthcheckDefinition,
  type HookName,
  type HookTable,
  type Plugin,
  type RegistryEntry,
  type RegistryKind,
} from './types.js';

/** What each kind of registry id holds. */
export interface RegistryKinds {
  engines: EngineDefinition;
  healthchecks: HealthcheckDefinition;
  alerters: AlerterDefinition;
}

/** Whether a registered thing can be used here, as the config layer asks it. */
export interface AvailabilityInfo {
  available: boolean;
  reason: string | null;
}

interface Item {
  id: string;
  kind: RegistryKind;
  key: string;
  plugin: string;
  def: EngineDefinition | HealthcheckDefinition | AlerterDefinition;
}

const KINDS: readonly RegistryKind[] = ['engines', 'healthchecks', 'alerters'];
const PLUGIN_KEYS = new Set(['name', 'apiVersion', ...KINDS, 'hooks']);
/** The function each kind of definition must have, and the optional ones that must be functions when given. */
const REQUIRED_FN: Record<RegistryKind, string> = { engines: 'create', healthchecks: 'probe', alerters: 'create' };
const OPTIONAL_FN: Record<RegistryKind, string[]> = { engines: ['unavailable'], healthchecks: ['parse'], alerters: ['parse'] };

/** Options of a {@link Registry}. */
export interface RegistryOptions {
  /** The hook runner that registered plugins' `hooks` subscribe to. Default: a new `Hooks()`. */
  hooks?: Hooks;
}

/** The registry of plugins for one supervisor. */
export class Registry {
  readonly #items = new Map<string, Item>();
  readonly #plugins = new Map<string, Plugin>();
  /** The config specs (paths, package names) the registered plugins were loaded from. */
  readonly #specs = new Set<string>();
  readonly #hooks: Hooks;

  constructor(opts: RegistryOptions = {}) {
    this.#hooks = opts.hooks ?? new Hooks();
  }

  /** The hook runner plugins' hooks are subscribed to. */
  get hooks(): Hooks {
    return this.#hooks;
  }

  /**
   * Check and register `plugin`: its engines, health checks and alerters get their ids, its hooks
   * are subscribed. `spec` is the config entry it was loaded from, if any (see {@link hasSpec}).
   * Throws a GV_ERR_PLUGIN_* GvError with `details.plugin` on the first problem found, and then
   * nothing of the plugin is registered.
   */
  register(plugin: Plugin, spec?: string): void {
    const { items, hooks } = this.#check(plugin as unknown);
    // Everything checked: commit. Nothing below can throw for a plugin that passed #check.
    const name = plugin.name;
    this.#plugins.set(name, plugin);
    if (spec !== undefined) this.#specs.add(spec);
    for (const item of items) this.#items.set(item.id, item);
    for (const h of hooks) this.#hooks.add(name, h.name, h.handler as HookTable[HookName], h.order);
  }

  /** True when a plugin loaded from config entry `spec` is registered. */
  hasSpec(spec: string): boolean {
    return this.#specs.has(spec);
  }

  /** True when a plugin by that name is registered. */
  has(pluginName: string): boolean {
    return this.#plugins.has(pluginName);
  }

  /** Names of registered plugins, in registration order. */
  plugins(): string[] {
    return [...this.#plugins.keys()];
  }

  /** The definition registered as `<kind>.<key>`, or undefined. */
  get<K extends RegistryKind>(kind: K, key: string): RegistryKinds[K] | undefined {
    return this.#items.get(`${kind}.${key}`)?.def as RegistryKinds[K] | undefined;
  }

  /** Like {@link get}, but throws GV_ERR_PLUGIN_NOT_FOUND when nothing registered the id. */
  require<K extends RegistryKind>(kind: K, key: string): RegistryKinds[K] {
    const def = this.get(kind, key);
    if (!def) throw new GvError('GV_ERR_PLUGIN_NOT_FOUND', `nothing registered ${kind}.${key}`, { details: { id: `${kind}.${key}` } });
    return def;
  }

  /** The engine registered as `engines.<name>`. */
  engine(name: string): EngineDefinition | undefined {
    return this.get('engines', name);
  }

  /** Whether `engines.<name>` exists and can be used here (the config layer's question), or undefined. */
  engineInfo(name: string): AvailabilityInfo | undefined {
    const def = this.engine(name);
    return def ? availability(def) : undefined;
  }

  /**
   * The view phase 3 of config loading checks against (`loadConfig`'s `registry` option): engine
   * availability by name, health check parsers by type, and the registered names for suggestions.
   */
  configView(): ConfigRegistryView {
    return { engine: (name) => this.engineInfo(name), healthcheck: (type) => this.healthcheck(type), alerter: (type) => this.alerter(type), names: (kind) => this.names(kind) };
  }

  /** The keys registered for `kind`, sorted (`http`, `splice`, `tcp` for engines). */
  names(kind: RegistryKind): string[] {
    return [...this.#items.values()].filter((i) => i.kind === kind).map((i) => i.key).sort();
  }

  /** The health check type registered as `healthchecks.<type>`. */
  healthcheck(type: string): HealthcheckDefinition | undefined {
    return this.get('healthchecks', type);
  }

  /** The alerter registered as `alerters.<name>`. */
  alerter(name: string): AlerterDefinition | undefined {
    return this.get('alerters', name);
  }

  /** The plugin that registered `id` (`engines.http` -> `gracevisor:engines`), or undefined. */
  pluginOf(id: string): string | undefined {
    return this.#items.get(id)?.plugin;
  }

  /** Every registered id, sorted by id: what `gracevisorctl plugins list` prints. */
  list(): RegistryEntry[] {
    return [...this.#items.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((item) => {
        const { available, reason } = item.kind === 'engines' ? availability(item.def as EngineDefinition) : { available: true, reason: null };
        return { id: item.id, kind: item.kind, plugin: item.plugin, description: item.def.description, available, reason };
      });
  }

  /** Every check of register(), with no side effect. */
  #check(p: unknown): { items: Item[]; hooks: { name: HookName; handler: unknown; order: HookOrder }[] } {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      throw new GvError('GV_ERR_PLUGIN_INVALID', `a plugin must be an object, got ${describe(p)}`, { details: { plugin: null } });
    }
    const obj = p as Record<string, unknown>;
    if (typeof obj.name !== 'string' || obj.name.trim() === '') {
      throw new GvError('GV_ERR_PLUGIN_NO_NAME', 'a plugin must have a non-empty string name', { details: { plugin: null } });
    }
    const name = obj.name;
    const fail = (code: ErrorCode, msg: string, extra: Record<string, unknown> = {}): never => {
      throw new GvError(code, `plugin ${name}: ${msg}`, { details: { plugin: name, ...extra } });
    };
    for (const key of Object.keys(obj)) {
      if (!PLUGIN_KEYS.has(key)) fail('GV_ERR_PLUGIN_INVALID', `unknown key ${key} (expected ${[...PLUGIN_KEYS].join(', ')})`, { key });
    }
    if (obj.apiVersion !== API_VERSION) {
      fail('GV_ERR_PLUGIN_API_VERSION', `apiVersion ${describe(obj.apiVersion)} is not supported (this gracevisor speaks ${API_VERSION})`, { apiVersion: obj.apiVersion });
    }
    if (this.#plugins.has(name)) fail('GV_ERR_PLUGIN_DUPLICATE_NAME', 'a plugin by this name is already registered');

    const items: Item[] = [];
    for (const kind of KINDS) {
      const table = obj[kind];
      if (table === undefined) continue;
      if (!isPlainObject(table)) fail('GV_ERR_PLUGIN_INVALID', `${kind} must be an object of definitions`);
      for (const [key, def] of Object.entries(table as Record<string, unknown>)) {
        const id = `${kind}.${key}`;
        if (!/^[A-Za-z0-9_-]+$/.test(key)) fail('GV_ERR_PLUGIN_INVALID', `${id}: a key may hold only letters, digits, - and _`, { id });
        if (!isPlainObject(def)) fail('GV_ERR_PLUGIN_INVALID', `${id} must be an object`, { id });
        const d = def as Record<string, unknown>;
        if (typeof d.description !== 'string') fail('GV_ERR_PLUGIN_INVALID', `${id} needs a description string`, { id });
        const required = REQUIRED_FN[kind];
        if (typeof d[required] !== 'function') fail('GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', `${id}.${required} is not a function`, { id });
        for (const opt of OPTIONAL_FN[kind]) {
          if (d[opt] !== undefined && typeof d[opt] !== 'function') fail('GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', `${id}.${opt} is not a function`, { id });
        }
        const owner = this.#items.get(id);
        if (owner) fail('GV_ERR_PLUGIN_DUPLICATE_ID', `${id} is already registered by plugin ${owner.plugin}`, { id, owner: owner.plugin });
        items.push({ id, kind, key, plugin: name, def: def as unknown as Item['def'] });
      }
    }

    const hooks: { name: HookName; handler: unknown; order: HookOrder }[] = [];
    if (obj.hooks !== undefined) {
      if (!isPlainObject(obj.hooks)) fail('GV_ERR_PLUGIN_INVALID', 'hooks must be an object of handlers');
      for (const [hook, entry] of Object.entries(obj.hooks as Record<string, unknown>)) {
        if (!isHookName(hook)) {
          const suggestion = suggest(hook, Object.keys(HOOK_MODES));
          fail('GV_ERR_PLUGIN_UNKNOWN_HOOK', `${hook} is not a hook${suggestion ? `; did you mean ${suggestion}?` : ''}`, { hook, suggestion });
        }
        let handler: unknown = entry;
        let order: HookOrder = 'normal';
        if (isPlainObject(entry)) {
          const e = entry as Record<string, unknown>;
          handler = e.handler;
          if (e.order !== undefined && e.order !== 'pre' && e.order !== 'post') fail('GV_ERR_PLUGIN_INVALID', `${hook}.order must be 'pre' or 'post'`, { hook });
          order = (e.order as HookOrder | undefined) ?? 'normal';
        }
        if (typeof handler !== 'function') fail('GV_ERR_PLUGIN_HANDLER_NOT_FUNCTION', `the handler of ${hook} is not a function`, { hook });
        hooks.push({ name: hook as HookName, handler, order });
      }
    }
    return { items, hooks };
  }
}

/** An engine's availability; an `unavailable()` that throws counts as unavailable, with its message. */
function availability(def: EngineDefinition): AvailabilityInfo {
  try {
    const reason = def.unavailable?.() ?? null;
    return { available: reason === null, reason };
  } catch (err) {
    return { available: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' || typeof v === 'function' ? `a ${typeof v}` : String(v);
}
