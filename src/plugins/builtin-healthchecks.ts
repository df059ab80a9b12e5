/**
 * The built-in health check types, registered as the plugin `gracevisor:healthchecks`:
 * `healthchecks.http` (GET a path, expect a status), `healthchecks.tcp` (the port accepts a
 * connection) and `healthchecks.exec` (a command exits 0). Each probe honours the AbortSignal the
 * supervisor aborts at the check's timeout.
 */
import http from 'node:http';
import net from 'node:net';
import { parse as parseShell } from 'shell-quote';
import type { SourcePosition } from '../errors.js';
import type { Target } from './engine.js';
import type { HealthcheckConfig } from '../config/model.js';
import { optionChecks, runCommand } from './builtin-support.js';
import { definePlugin } from './define.js';
import { API_VERSION, type HealthcheckDefinition, type ProbeResult } from './types.js';

const { bad, rejectUnknown } = optionChecks('healthcheck', 'GV_ERR_CONFIG_HEALTHCHECK');

/** The type-specific options each check accepts. */
const HTTP_OPTIONS = ['path', 'expect_status', 'host'];
const EXEC_OPTIONS = ['command'];

/** `healthchecks.http`: GET `path` on the instance; a 2xx (or one of `expect_status`) is healthy. */
export const httpHealthcheck: HealthcheckDefinition = {
  description: 'HTTP GET of a path; healthy on 2xx or the listed expect_status',
  parse(options, pos) {
    rejectUnknown('http', options, HTTP_OPTIONS, pos);
    const path = options.path ?? '/';
    if (typeof path !== 'string' || !path.startsWith('/')) bad('http', 'path must be a string starting with "/"', pos, 'path');
    const out: Record<string, unknown> = { path };
    if (options.expect_status !== undefined) out.expect_status = statusList(options.expect_status, pos);
    if (options.host !== undefined) {
      if (typeof options.host !== 'string' || options.host === '') bad('http', 'host must be a non-empty string', pos, 'host');
      out.host = options.host;
    }
    return out;
  },
  probe(target, check, signal) {
    const started = Date.now();
    const path = typeof check.path === 'string' ? check.path : '/';
    const expect = Array.isArray(check.expect_status) ? (check.expect_status as number[]) : typeof check.expect_status === 'number' ? [check.expect_status] : null;
    const host = typeof check.host === 'string' ? check.host : `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
    return new Promise<ProbeResult>((resolve) => {
      if (signal.aborted) {
        resolve({ ok: false, detail: 'timed out' });
        return;
      }
      const req = http.request({
        host: target.host, port: target.port, path, method: 'GET', agent: false, signal,
        headers: { host, 'user-agent': 'gracevisor-healthcheck', connection: 'close' },
      }, (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        const ok = expect ? expect.includes(status) : status >= 200 && status < 300;
        resolve({ ok, detail: `${status} ${res.statusMessage ?? ''}`.trimEnd() + ` in ${Date.now() - started}ms` });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        resolve({ ok: false, detail: signal.aborted ? 'timed out' : err.code ?? err.message });
      });
      req.end();
    });
  },
};

/** `healthchecks.tcp`: the instance's port accepts a TCP connection. */
export const tcpHealthcheck: HealthcheckDefinition = {
  description: 'TCP connect to the instance port',
  parse(options, pos) {
    rejectUnknown('tcp', options, [], pos);
    return {};
  },
  probe(target, _check, signal) {
    return tcpProbe(target, signal);
  },
};

/** `healthchecks.exec`: run `command` (with `{port}` and `{host}` filled in); exit 0 is healthy. */
export const execHealthcheck: HealthcheckDefinition = {
  description: 'run a command ({port} filled in); healthy on exit 0',
  parse(options, pos) {
    rejectUnknown('exec', options, EXEC_OPTIONS, pos);
    const cmd = options.command;
    if (typeof cmd !== 'string' || cmd.trim() === '') bad('exec', 'command is required: a non-empty string', pos, 'command');
    const words = parseShell(cmd as string);
    if (words.some((w) => typeof w !== 'string')) bad('exec', 'command may not use shell operators, globs or comments; run a script instead', pos, 'command');
    return { command: cmd };
  },
  probe(target, check, signal) {
    return execProbe(target, check, signal);
  },
};

/** The built-in health checks: healthchecks.http, healthchecks.tcp, healthchecks.exec. */
export const healthchecksPlugin = definePlugin({
  name: 'gracevisor:healthchecks',
  apiVersion: API_VERSION,
  healthchecks: { http: httpHealthcheck, tcp: tcpHealthcheck, exec: execHealthcheck },
});

/** Connect and close at once: the cheapest readiness signal, also the supervisor's default. */
export function tcpProbe(target: Target, signal: AbortSignal): Promise<ProbeResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve({ ok: false, detail: 'timed out' });
      return;
    }
    const socket = net.connect({ host: target.host, port: target.port });
    const onAbort = (): void => {
      socket.destroy();
      resolve({ ok: false, detail: 'timed out' });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ok: true, detail: `connected in ${Date.now() - started}ms` });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort);
      resolve({ ok: false, detail: err.code ?? err.message });
    });
  });
}

async function execProbe(target: Target, check: HealthcheckConfig, signal: AbortSignal): Promise<ProbeResult> {
  const fill = (s: string): string => s.replaceAll('{port}', String(target.port)).replaceAll('{host}', target.host);
  const words = parseShell(String(check.command ?? '')).filter((w): w is string => typeof w === 'string').map(fill);
  const end = await runCommand(words, { env: { PORT: String(target.port), HOST: target.host }, signal });
  if ('error' in end) return { ok: false, detail: end.error };
  if (end.aborted) return { ok: false, detail: 'timed out (killed)' };
  if (end.exit === 0) return { ok: true, detail: 'exit 0' };
  return { ok: false, detail: end.exit !== null ? `exit ${end.exit}` : `signal ${end.signal}` };
}

function statusList(v: unknown, pos: SourcePosition): number[] {
  const items = Array.isArray(v) ? v : [v];
  const out: number[] = [];
  for (const item of items) {
    const n = typeof item === 'string' && /^\d+$/.test(item.trim()) ? Number(item) : item;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 100 || n > 599) bad('http', `expect_status must be HTTP status codes (100-599), got ${JSON.stringify(item)}`, pos, 'expect_status');
    out.push(n as number);
  }
  if (out.length === 0) bad('http', 'expect_status must list at least one status', pos, 'expect_status');
  return out;
}
