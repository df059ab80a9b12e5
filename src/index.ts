/**
 * gracevisor's public API for plugin authors and embedders: `definePlugin`, the plugin and engine
 * types, the error class and codes.
 */
export { definePlugin } from './plugins/define.js';
export { API_VERSION, HOOK_MODES } from './plugins/types.js';
export type {
  Alerter,
  AlerterDefinition,
  ExitInfo,
  HealthcheckDefinition,
  HookContext,
  HookEntry,
  HookName,
  HookSubscriber,
  HookTable,
  InstanceInfo,
  InstanceState,
  Plugin,
  ProbeResult,
  RegistryEntry,
  RegistryKind,
} from './plugins/types.js';
export type { DrainResult, Engine, EngineDefinition, EngineOptions, EngineStats, Target, TargetStats } from './engines/engine.js';
export { ErrorCodes, GvConfigError, GvError, isGvError } from './errors.js';
export type { ErrorCode, SourcePosition } from './errors.js';
export { Registry } from './plugins/registry.js';
export { Hooks } from './plugins/hooks.js';
