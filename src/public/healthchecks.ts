/**
 * `gracevisor/healthchecks`: the built-in health checks (healthchecks.http, .tcp, .exec), to wrap or
 * delegate to from a check of your own, and the plain TCP probe they share.
 */
export { httpHealthcheck, tcpHealthcheck, execHealthcheck, healthchecksPlugin, tcpProbe } from '../plugins/builtin-healthchecks.js';
export type { HealthcheckDefinition, ProbeResult } from '../plugins/types.js';
