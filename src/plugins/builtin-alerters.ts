/**
 * The built-in alerters, registered as the plugin `gracevisor:alerters`: `alerters.webhook` POSTs a
 * JSON body for each alert to a URL, `alerters.log` writes each alert to the daemon log. Alerts are:
 * a restart failed, an app gave up (fatal), an instance exited when nothing asked it to.
 * An alerter never throws into the supervisor: a failed delivery is a log line.
 */
import { request } from 'undici';
import { GvError } from '../errors.js';
import { definePlugin } from './define.js';
import { API_VERSION, type AlerterDefinition, type HookContext, type HookSubscriber } from './types.js';

/** One alert, as the webhook body and the log fields carry it. */
export interface AlertPayload {
  event: 'restart_failed' | 'app_fatal' | 'instance_exit';
  app: string | null;
  at: string;
  [field: string]: unknown;
}

/** Subscribe `send` to the three alerting hooks; returns the unsubscribe functions. */
function subscribeAlerts(hooks: HookSubscriber, send: (alert: AlertPayload) => Promise<void> | void): (() => void)[] {
  const at = (): string => new Date().toISOString();
  return [
    hooks.on('onRestartFailed', (ctx: HookContext, e) => send({ event: 'restart_failed', app: ctx.app, at: at(), error: e.error, attempt: e.attempt, nextAttemptMs: e.nextAttemptMs })),
    hooks.on('onAppFatal', (ctx: HookContext, e) => send({ event: 'app_fatal', app: ctx.app, at: at(), error: e.error, retries: e.retries })),
    hooks.on('onInstanceExit', (ctx: HookContext, e) => {
      if (e.expected) return;
      return send({ event: 'instance_exit', app: ctx.app, at: at(), instance: e.instance.id, pid: e.instance.pid, exit: e.exit });
    }),
  ];
}

/** `alerters.webhook`: POST each alert as JSON to `url` (with optional `headers` and `timeout` ms). */
export const webhookAlerter: AlerterDefinition = {
  description: 'POST each alert (restart failed, app fatal, unexpected exit) as JSON to a URL',
  create(options, hooks, log) {
    const url = options.url;
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) {
      throw new GvError('GV_ERR_CONFIG_TYPE', 'alerters.webhook needs a url option (http:// or https://)', { details: { option: 'url' } });
    }
    const headers = typeof options.headers === 'object' && options.headers !== null ? (options.headers as Record<string, string>) : {};
    const timeoutMs = typeof options.timeout === 'number' ? options.timeout : 5_000;
    const pending = new Set<Promise<void>>();
    const send = (alert: AlertPayload): void => {
      // Fire and forget: the hook returns at once, delivery is tracked only so close() can wait for it.
      const p = (async () => {
        try {
          const res = await request(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers },
            body: JSON.stringify(alert),
            signal: AbortSignal.timeout(timeoutMs),
          });
          await res.body.dump();
          if (res.statusCode >= 300) log('warn', 'alert webhook answered with an error status', { url, status: res.statusCode, event: alert.event });
        } catch (err) {
          log('warn', 'alert webhook failed', { url, event: alert.event, error: (err as { code?: string }).code ?? (err as Error).message });
        }
      })();
      pending.add(p);
      void p.finally(() => pending.delete(p));
    };
    const offs = subscribeAlerts(hooks, send);
    return {
      async close() {
        for (const off of offs) off();
        await Promise.all([...pending]);
      },
    };
  },
};

/** `alerters.log`: write each alert to the daemon log at `error` level. */
export const logAlerter: AlerterDefinition = {
  description: 'write each alert to the daemon log',
  create(_options, hooks, log) {
    const offs = subscribeAlerts(hooks, (alert) => {
      const { event, ...fields } = alert;
      log('error', `alert: ${event.replace('_', ' ')}`, fields);
    });
    return {
      async close() {
        for (const off of offs) off();
      },
    };
  },
};

/** The built-in alerters: alerters.webhook, alerters.log. */
export const alertersPlugin = definePlugin({
  name: 'gracevisor:alerters',
  apiVersion: API_VERSION,
  alerters: { webhook: webhookAlerter, log: logAlerter },
});
