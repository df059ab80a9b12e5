/**
 * `gracevisor/engines`: what a plugin author needs to wrap a built-in engine or write one
 * (docs/plugins.md "Wrapping a built-in"). The built-in definitions are the ones the daemon
 * registers as engines.http, engines.http_js, engines.tcp and engines.splice; wrap one by delegating `parse` and
 * `create` to it. The classes are the skeleton the built-ins share.
 */
export { HttpEngine } from '../engines/http/engine.js';
export { httpEngine, httpJsEngine, createHttpEngineDefinition } from '../engines/http-select.js';
export { NativeHttpEngine } from '../engines/http-native/engine.js';
export { tcpEngine, TcpEngine } from '../engines/tcp.js';
export { spliceEngine, createSpliceEngineDefinition, SpliceEngine, loadSpliceAddon } from '../engines/splice.js';
export type { SpliceEngineOptions, SpliceTuning } from '../engines/splice.js';
export { enginesPlugin } from '../engines/index.js';
export { BaseEngine, ClientSockets, ConnectionCap } from '../engines/base-engine.js';
export { TargetSet, TargetState, trackPair } from '../engines/targets.js';
export { HoldQueue } from '../engines/hold-queue.js';
export { listenOn, boundAddress } from '../engines/listener.js';
export type { ConnectionBudget, DrainResult, Engine, EngineDefinition, EngineOptions, EngineStats, SetTargetsOptions, Target, TargetStats } from '../plugins/engine.js';
