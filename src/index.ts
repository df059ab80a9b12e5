/**
 * gracevisor's public API for plugin authors and embedders: `definePlugin`, the plugin and engine
 * types, the error class and codes, and for embedding: the config loader, the Supervisor and the
 * control API client.
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
export type { DrainResult, Engine, EngineDefinition, EngineOptions, EngineStats, SetTargetsOptions, Target, TargetStats } from './plugins/engine.js';
export { ErrorCodes, GvConfigError, GvError, isGvError } from './errors.js';
export type { ErrorCode, SourcePosition } from './errors.js';
export { Registry } from './plugins/registry.js';
export { builtinPlugins, createRegistry } from './builtins.js';
export { Hooks } from './plugins/hooks.js';
export { loadConfig, loadAppFile } from './config/load.js';
export type { AppConfig, Config, HealthcheckConfig } from './config/model.js';
export { Supervisor } from './supervisor/supervisor.js';
export type { SupervisorOptions } from './supervisor/supervisor.js';
export type { AppStatus, InstanceStatus, ReloadResult, RestartResult, SupervisorApi } from './supervisor/api.js';
export { ControlClient } from './control/client.js';
