/**
 * One app: its keys, how each is read, and its defaults. The simple keys are one table (APP_FIELDS):
 * adding a key to apps is one line there and one in the model (../model.ts). The keys with rules of
 * their own (name, command, environment, user, healthcheck, logger) are read below the table.
 */
import type { SourcePosition } from '../../errors.js';
import { DEFAULTS } from '../defaults.js';
import type { AppConfig, LoggerConfig, UserConfig } from '../model.js';
import { getEntry, type RawEntry, type RawMap, type RawValue } from '../raw.js';
import { isIP } from 'node:net';
import { field, isNull, readFields, type Reader } from '../reader.js';
import { splitCommandWords } from '../command.js';
import { inheritsGlobalAlerts, readAlerts, type AlertRead } from './alerts.js';
import { readHealthcheck, type HealthcheckRead } from './healthcheck.js';
import { readAppLogger } from './logger.js';
import { readUser } from './user.js';

/** The app keys that are one value each, with their defaults. */
export const APP_FIELDS = {
  directory: field<string | null>(null, (r, v) => (isNull(v) ? null : r.path(v, 'directory'))),
  internal_host: field(DEFAULTS.internal_host, (r, v) => readHost(r, v, 'internal_host')),
  external_host: field(DEFAULTS.external_host, (r, v) => readHost(r, v, 'external_host')),
  external_port: field(DEFAULTS.external_port, (r, v) => r.port(v, 'external_port')),
  proxy: field(DEFAULTS.proxy, (r, v) => r.nonEmpty(v, 'proxy')),
  stop_signal: field(DEFAULTS.stop_signal, (r, v) => r.signal(v, 'stop_signal')),
  max_retries: field(DEFAULTS.max_retries, (r, v) => r.integer(v, 'max_retries', 0, 1_000_000)),
  start_timeout: field<number | null>(null, (r, v) => r.duration(v, 'start_timeout', { unlimited: true, min: 1 })),
  stop_timeout: field<number | null>(null, (r, v) => r.duration(v, 'stop_timeout', { unlimited: true, min: 1 })),
  drain_timeout: field(DEFAULTS.drain_timeout, (r, v) => r.duration(v, 'drain_timeout') ?? undefined),
  queue_timeout: field(DEFAULTS.queue_timeout, (r, v) => r.duration(v, 'queue_timeout') ?? undefined),
  instances: field(DEFAULTS.instances, (r, v) => r.integer(v, 'instances', 1, 1024)),
  upstream_timeout: field(DEFAULTS.upstream_timeout, (r, v) => r.duration(v, 'upstream_timeout', { min: 1 }) ?? undefined),
  upstream_idle_timeout: field(DEFAULTS.upstream_idle_timeout, (r, v) => r.duration(v, 'upstream_idle_timeout', { min: 1 }) ?? undefined),
  keepalive_timeout: field(DEFAULTS.keepalive_timeout, (r, v) => r.duration(v, 'keepalive_timeout', { min: 1 }) ?? undefined),
  header_timeout: field(DEFAULTS.header_timeout, (r, v) => r.duration(v, 'header_timeout', { min: 1 }) ?? undefined),
  max_header_size: field(DEFAULTS.max_header_size, (r, v) => readHeaderSize(r, v)),
  max_connections: field<number | null>(null, (r, v) => r.integer(v, 'max_connections', 1, 10_000_000)),
  trusted_proxies: field<string[]>([], (r, v) => readAddresses(r, v, 'trusted_proxies')),
};

/** Every key an app takes. */
export const APP_KEYS: readonly string[] = ['name', 'command', 'environment', 'healthcheck', 'user', 'logger', 'alerts', ...Object.keys(APP_FIELDS)];

/** What an app inherits from the global section. */
export interface AppInheritance {
  logger: LoggerConfig;
  user: UserConfig | null;
  /** How many ports `port_range` holds (a restart needs one more than `instances`); unchecked when absent. */
  ports?: number;
}

/** Where parts of one app were written, for the checks that run once plugins are loaded. */
export interface AppSources {
  /** The app's mapping. */
  app: SourcePosition;
  /** The `name` value, or the app. */
  name: SourcePosition;
  /** The `proxy` key, or the app. */
  proxy: SourcePosition;
  /** The `external_port` value (else `external_host`, else the app). */
  listen: SourcePosition;
  /** The `directory` value, when given. */
  directory: SourcePosition | null;
  healthcheck: HealthcheckRead | null;
  /** The app's own alert routes, for their types' parsers. */
  alerts: AlertRead[];
}

/** One app as read, with its sources; null when it is too broken to check further (no name or command). */
export interface AppRead {
  config: AppConfig;
  sources: AppSources;
}

/** An environment variable's name: not empty, no `=`, no white space. */
const ENV_KEY = /^[^=\s\0]+$/;

/** A host name (RFC 1123 labels), an IPv4 or IPv6 address, or a wildcard (`*`, `0.0.0.0`, `::`). */
function readHost(r: Reader, v: RawValue, what: string): string | undefined {
  const s = r.nonEmpty(v, what);
  if (s === undefined) return undefined;
  const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  // nginx's `*` means every IPv4 address.
  if (bare === '*') return '0.0.0.0';
  if (isIP(bare) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(bare)) return bare;
  r.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a host name or an IP address, not ${JSON.stringify(s)}`, v.pos, { value: s });
  return undefined;
}

/** A list of IP addresses or CIDR blocks (`10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`). */
function readAddresses(r: Reader, v: RawValue, what: string): string[] | undefined {
  const out: string[] = [];
  let ok = true;
  for (const { value, pos } of r.stringList(v, what)) {
    const [addr, bits, extra] = value.split('/');
    const family = isIP(addr ?? '');
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
      r.error('GV_ERR_CONFIG_TYPE', `"${what}" takes IP addresses or CIDR blocks (10.0.0.0/8), not ${JSON.stringify(value)}`, pos, { value });
      ok = false;
      continue;
    }
    out.push(value);
  }
  return ok ? out : undefined;
}

/** Names gracevisorctl gives a meaning of its own. */
const RESERVED_NAMES: readonly string[] = ['all'];

/** App names name files and URLs. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Read one app mapping, inheriting from `g`. */
export function readApp(r: Reader, m: RawMap, g: AppInheritance): AppRead | null {
  r.checkKeys(m, APP_KEYS, 'an app');
  const get = (k: string): RawEntry | undefined => getEntry(m, k);
  const nameE = get('name');
  let name: string | undefined;
  if (!nameE) r.error('GV_ERR_CONFIG_REQUIRED', 'an app needs a "name"', m.pos);
  else {
    name = r.nonEmpty(nameE.value, 'name');
    if (name !== undefined && !NAME.test(name)) {
      r.error('GV_ERR_CONFIG_TYPE', `app name ${JSON.stringify(name)} may hold only letters, digits, "_", "." and "-" (it names log files and control URLs)`, nameE.value.pos);
      name = undefined;
    } else if (name !== undefined && RESERVED_NAMES.includes(name)) {
      r.error('GV_ERR_CONFIG_RANGE', `app name ${JSON.stringify(name)} is reserved: \`gracevisorctl restart ${name}\` means every app`, nameE.value.pos, { name });
      name = undefined;
    }
  }
  const commandE = get('command');
  let command: string | undefined;
  if (!commandE) r.error('GV_ERR_CONFIG_REQUIRED', `app${name ? ` ${name}` : ''} needs a "command"`, m.pos);
  // A list here is usually an unquoted DSL command or a forgotten `;`: the command must be one string.
  else {
    command = r.nonEmpty(commandE.value, 'command', 'GV_ERR_CONFIG_COMMAND');
    const shell = command === undefined ? null : splitCommandWords(command).shell;
    if (shell !== null) {
      r.error('GV_ERR_CONFIG_COMMAND', `"command" uses the shell syntax ${shell}, but gracevisor runs commands without a shell; write sh -c '…' to get one`, commandE.value.pos, { operator: shell });
      command = undefined;
    }
  }
  const environment = readEnvironment(r, get('environment')?.value);
  if (command !== undefined && commandE && !command.includes('{port}') && !environment.some((e) => e.includes('{port}'))) {
    r.error('GV_ERR_CONFIG_PORT_PLACEHOLDER', `app ${name ?? ''}: neither "command" nor "environment" has {port}, so the app cannot be told its port`, commandE.value.pos);
  }
  const fields = readFields(r, m, APP_FIELDS);
  const instancesE = get('instances');
  if (g.ports !== undefined && instancesE && fields.instances + 1 > g.ports) {
    r.error('GV_ERR_CONFIG_RANGE', `"instances" ${fields.instances} needs ${fields.instances + 1} ports (one more for a restart), but port_range holds ${g.ports}`, instancesE.value.pos, {
      instances: fields.instances,
      ports: g.ports,
    });
  }
  // An empty value (YAML `user:`) is the same as leaving the key out: inherit / no check.
  const given = (k: string): RawEntry | undefined => {
    const e = get(k);
    return e && !isNull(e.value) ? e : undefined;
  };
  const userE = given('user');
  const user = userE ? readUser(r, userE.value) : g.user;
  const hcE = given('healthcheck');
  const hc = hcE ? readHealthcheck(r, hcE) ?? null : null;
  const logger = readAppLogger(r, get('logger'), g.logger, name ?? 'unnamed', m.pos);
  const alertsE = get('alerts');
  const alerts = alertsE ? readAlerts(r, alertsE.value, 'of an app') : [];
  // `alerts: []` or `alerts off` (not an empty value) turns the global routes off for this app.
  const global_alerts = inheritsGlobalAlerts(alertsE?.value);
  if (name === undefined || command === undefined) return null;
  const { directory, internal_host, external_host, external_port, proxy, stop_signal, max_retries, start_timeout, stop_timeout, drain_timeout, instances, queue_timeout, ...engine } = fields;
  const config: AppConfig = {
    name,
    command,
    environment,
    directory,
    healthcheck: hc?.config ?? null,
    internal_host,
    external_host,
    external_port,
    proxy,
    stop_signal,
    max_retries,
    start_timeout,
    stop_timeout,
    drain_timeout,
    instances,
    queue_timeout,
    ...engine,
    user,
    logger,
    alerts: alerts.map((a) => a.config),
    global_alerts,
    source: m.pos,
  };
  const sources: AppSources = {
    app: m.pos,
    name: nameE?.value.pos ?? m.pos,
    proxy: get('proxy')?.keyPos ?? m.pos,
    listen: get('external_port')?.value.pos ?? get('external_host')?.value.pos ?? m.pos,
    directory: get('directory')?.value.pos ?? null,
    healthcheck: hc,
    alerts,
  };
  return { config, sources };
}

/** `environment`: a list of `KEY=value` strings, or a mapping of keys to values. */
function readEnvironment(r: Reader, v: RawValue | undefined): string[] {
  if (v === undefined || isNull(v)) return [];
  if (v.kind === 'map') {
    const out: string[] = [];
    for (const e of v.entries) {
      if (!ENV_KEY.test(e.key)) {
        r.error('GV_ERR_CONFIG_TYPE', `environment variable names may not be empty or hold "=" or spaces, not ${JSON.stringify(e.key)}`, e.keyPos, { key: e.key });
        continue;
      }
      const val = e.value.kind === 'scalar' && e.value.value !== null && typeof e.value.value !== 'string' ? String(e.value.value) : r.string(e.value, `environment.${e.key}`);
      if (val !== undefined) out.push(`${e.key}=${val}`);
    }
    return out;
  }
  const out: string[] = [];
  for (const { value, pos } of r.stringList(v, 'environment')) {
    if (!/^[^=\s]+=/.test(value)) {
      r.error('GV_ERR_CONFIG_TYPE', `environment entries are KEY=value, not ${JSON.stringify(value)}`, pos);
      continue;
    }
    out.push(value);
  }
  return out;
}

/** The smallest and largest `max_header_size`: room for a request line and a few headers; a bound on memory per connection. */
const HEADER_SIZE_RANGE = { min: 1024, max: 1024 * 1024 };

/** `max_header_size`: a size (`16K`), within {@link HEADER_SIZE_RANGE}. */
function readHeaderSize(r: Reader, v: RawValue): number | undefined {
  const bytes = r.size(v, 'max_header_size');
  if (bytes === undefined) return undefined;
  if (bytes < HEADER_SIZE_RANGE.min || bytes > HEADER_SIZE_RANGE.max) {
    r.error('GV_ERR_CONFIG_RANGE', `"max_header_size" must be between 1K and 1M, not ${bytes} bytes`, v.pos, { ...HEADER_SIZE_RANGE, value: bytes });
    return undefined;
  }
  return bytes;
}
