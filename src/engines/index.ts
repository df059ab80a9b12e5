/**
 * The built-in engines, registered as the plugin `gracevisor:engines` through the same door as any
 * third-party plugin (`Registry.register`; src/builtins.ts lists it with the other built-ins).
 */
import { definePlugin } from '../plugins/define.js';
import { API_VERSION } from '../plugins/types.js';
import { httpEngine, httpJsEngine } from './http-select.js';
import { spliceEngine } from './splice.js';
import { tcpEngine } from './tcp.js';

/** engines.http (native data plane, or JavaScript where it is missing), engines.http_js, engines.tcp and engines.splice. */
export const enginesPlugin = definePlugin({
  name: 'gracevisor:engines',
  apiVersion: API_VERSION,
  engines: { http: httpEngine, http_js: httpJsEngine, tcp: tcpEngine, splice: spliceEngine },
});

export default enginesPlugin;
