/**
 * The built-in alerters, registered as the plugin `gracevisor:alerters`: `alerters.webhook` POSTs each
 * alert as JSON to a URL, `alerters.exec` runs a command with the alert as JSON on its stdin,
 * `alerters.log` writes it to the daemon log. Which alerts go where, folding, timeouts and retries are
 * the alert router's (src/observe/alerts.ts); an alerter only delivers one alert, or fails to.
 */
import { request } from 'undici';
import { splitCommandWords } from '../config/command.js';
import { optionChecks, runCommand } from './builtin-support.js';
import { definePlugin } from './define.js';
import { API_VERSION, type Alert, type AlerterDefinition } from './types.js';

const { bad, rejectUnknown } = optionChecks('alert', 'GV_ERR_CONFIG_ALERT');

/** `alerters.webhook`: POST each alert as JSON to `url`, with optional `headers`. A status of 300 or more is a failed delivery. */
export const webhookAlerter: AlerterDefinition = {
  description: 'POST each alert as JSON to a URL (url, headers)',
  parse(options, pos) {
    rejectUnknown('webhook', options, ['url', 'headers'], pos);
    const url = options.url;
    let parsed: URL | null = null;
    try {
      parsed = typeof url === 'string' ? new URL(url) : null;
    } catch {
      parsed = null;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) bad('webhook', `url must be an http:// or https:// URL, not ${JSON.stringify(url ?? null)}`, pos, 'url');
    const out: Record<string, unknown> = { url: parsed!.href };
    if (options.headers !== undefined) {
      const h = options.headers;
      if (typeof h !== 'object' || h === null || Array.isArray(h) || Object.values(h).some((v) => typeof v !== 'string' && typeof v !== 'number')) {
        bad('webhook', 'headers must be a mapping of header names to strings', pos, 'headers');
      }
      out.headers = Object.fromEntries(Object.entries(h as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
    }
    return out;
  },
  create(options) {
    const url = String(options.url);
    const headers = (options.headers as Record<string, string> | undefined) ?? {};
    return {
      async send(alert: Alert, signal: AbortSignal): Promise<void> {
        const res = await request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'gracevisor-alert', ...headers },
          body: JSON.stringify(alert),
          signal,
        });
        await res.body.dump();
        if (res.statusCode >= 300) throw new Error(`${url} answered ${res.statusCode}`);
      },
    };
  },
};

/**
 * `alerters.exec`: run `command` (split like a shell, run without one, as app commands are) with the
 * alert as one JSON document on stdin and GV_EVENT, GV_APP in its environment. Exit 0 is delivered;
 * at the route's timeout its process group is killed.
 */
export const execAlerter: AlerterDefinition = {
  description: 'run a command with each alert as JSON on its stdin (command)',
  parse(options, pos) {
    rejectUnknown('exec', options, ['command'], pos);
    const cmd = options.command;
    if (typeof cmd !== 'string' || cmd.trim() === '') bad('exec', 'command is required: a non-empty string', pos, 'command');
    const split = splitCommandWords(cmd as string);
    if (split.shell !== null) bad('exec', `command uses the shell syntax ${split.shell}; gracevisor runs it without a shell (write sh -c '…')`, pos, 'command');
    return { command: cmd };
  },
  create(options) {
    const argv = splitCommandWords(String(options.command)).argv ?? [];
    return {
      async send(alert: Alert, signal: AbortSignal): Promise<void> {
        const end = await runCommand(argv, { env: { GV_EVENT: alert.event, GV_APP: alert.app ?? '' }, stdin: JSON.stringify(alert) + '\n', signal });
        if ('error' in end) throw new Error(end.error);
        if (end.aborted) throw new Error('timed out (killed)');
        if (end.exit !== 0) throw new Error(end.exit !== null ? `exit ${end.exit}` : `signal ${end.signal}`);
      },
    };
  },
};

/** `alerters.log`: write each alert to the daemon log at `error` level. */
export const logAlerter: AlerterDefinition = {
  description: 'write each alert to the daemon log',
  parse(options, pos) {
    rejectUnknown('log', options, [], pos);
    return {};
  },
  create(_options, log) {
    return {
      async send(alert: Alert): Promise<void> {
        const { event, ...fields } = alert;
        log('error', `alert: ${event.replaceAll('_', ' ')}`, { alert: event, ...fields });
      },
    };
  },
};

/** The built-in alerters: alerters.webhook, alerters.exec, alerters.log. */
export const alertersPlugin = definePlugin({
  name: 'gracevisor:alerters',
  apiVersion: API_VERSION,
  alerters: { webhook: webhookAlerter, exec: execAlerter, log: logAlerter },
});
