/**
 * The built-in engines, registered as the plugin `gracevisor:engines` through the same door as any
 * third-party plugin (`Registry.register`; src/builtins.ts lists it with the other built-ins).
 */
import { definePlugin } from '../plugins/define.js';
import { API_VERSION } from '../plugins/types.js';
import { httpEngine } from './http/engine.js';
import { spliceEngine } from './splice.js';
import { tcpEngine } from './tcp.js';

/** engines.http, engines.tcp and engines.splice. */
export const enginesPlugin = definePlugin({
  name: 'gracevisor:engines',
  apiVersion: API_VERSION,
  engines: { http: httpEngine, tcp: tcpEngine, splice: spliceEngine },
});

export default enginesPlugin;
