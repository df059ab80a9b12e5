/**
 * `gracevisor/alerters`: the built-in alerters (alerters.webhook, .exec, .log), to wrap or delegate
 * to from an alerter of your own.
 */
export { webhookAlerter, execAlerter, logAlerter, alertersPlugin } from '../plugins/builtin-alerters.js';
export type { Alerter, AlerterDefinition } from '../plugins/types.js';
