/**
 * The built-in engines, registered as the plugin `gracevisor:engines` through the same door as any
 * third-party plugin (`Registry.register`), and the list of every built-in plugin the supervisor
 * registers first.
 */
import { definePlugin } from '../plugins/define.js';
import { API_VERSION, type Plugin } from '../plugins/types.js';
import { alertersPlugin, healthchecksPlugin } from '../plugins/builtin-healthchecks.js';
import { httpEngine } from './http.js';
import { spliceEngine } from './splice.js';
import { tcpEngine } from './tcp.js';

/** engines.http, engines.tcp and engines.splice. */
export const enginesPlugin = definePlugin({
  name: 'gracevisor:engines',
  apiVersion: API_VERSION,
  engines: { http: httpEngine, tcp: tcpEngine, splice: spliceEngine },
});

/** Every built-in plugin, in the order the supervisor registers them (before any from the config). */
export const builtinPlugins: readonly Plugin[] = [enginesPlugin, healthchecksPlugin, alertersPlugin];

export default enginesPlugin;
