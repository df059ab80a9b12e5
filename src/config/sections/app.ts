/**
 * One app: its keys, how each is read, and its defaults. The simple keys are one table (APP_FIELDS):
 * adding a key to apps is one line there and one in the model (../model.ts). The keys with rules of
 * their own (name, command, environment, user, healthcheck, logger) are read below the table.
 */
import type { SourcePosition } from '../../errors.js';
import { DEFAULTS } from '../defaults.js';
import type { AppConfig, LoggerConfig, UserConfig } from '../model.js';
import { getEntry, type RawEntry, type RawMap, type RawValue } from '../raw.js';
import { field, isNull, readFields, type Reader } from '../reader.js';
import { readHealthcheck, type HealthcheckRead } from './healthcheck.js';
import { readAppLogger } from './logger.js';
import { readUser } from './user.js';

/** The app keys that are one value each, with their defaults. */
export const APP_FIELDS = {
  directory: field<string | null>(null, (r, v) => (isNull(v) ? null : r.path(v, 'directory'))),
  internal_host: field(DEFAULTS.internal_host, (r, v) => r.nonEmpty(v, 'internal_host')),
  external_host: field(DEFAULTS.external_host, (r, v) => r.nonEmpty(v, 'external_host')),
  external_port: field(DEFAULTS.external_port, (r, v) => r.port(v, 'external_port')),
  proxy: field(DEFAULTS.proxy, (r, v) => r.nonEmpty(v, 'proxy')),
  stop_signal: field(DEFAULTS.stop_signal, (r, v) => r.signal(v, 'stop_signal')),
  max_retries: field(DEFAULTS.max_retries, (r, v) => r.integer(v, 'max_retries', 0, 1_000_000)),
  start_timeout: field<number | null>(null, (r, v) => r.duration(v, 'start_timeout', { unlimited: true, min: 1 })),
  stop_timeout: field<number | null>(null, (r, v) => r.duration(v, 'stop_timeout', { unlimited: true, min: 1 })),
  drain_timeout: field(DEFAULTS.drain_timeout, (r, v) => r.duration(v, 'drain_timeout') ?? undefined),
  queue_timeout: field(DEFAULTS.queue_timeout, (r, v) => r.duration(v, 'queue_timeout') ?? undefined),
  instances: field(DEFAULTS.instances, (r, v) => r.integer(v, 'instances', 1, 1024)),
};

/** Every key an app takes. */
export const APP_KEYS: readonly string[] = ['name', 'command', 'environment', 'healthcheck', 'user', 'logger', ...Object.keys(APP_FIELDS)];

/** What an app inherits from the global section. */
export interface AppInheritance {
  logger: LoggerConfig;
  user: UserConfig | null;
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
  healthcheck: HealthcheckRead | null;
}

/** One app as read, with its sources; null when it is too broken to check further (no name or command). */
export interface AppRead {
  config: AppConfig;
  sources: AppSources;
}

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
    }
  }
  const commandE = get('command');
  let command: string | undefined;
  if (!commandE) r.error('GV_ERR_CONFIG_REQUIRED', `app${name ? ` ${name}` : ''} needs a "command"`, m.pos);
  // A list here is usually an unquoted DSL command or a forgotten `;`: the command must be one string.
  else command = r.nonEmpty(commandE.value, 'command');
  const environment = readEnvironment(r, get('environment')?.value);
  if (command !== undefined && commandE && !command.includes('{port}') && !environment.some((e) => e.includes('{port}'))) {
    r.error('GV_ERR_CONFIG_PORT_PLACEHOLDER', `app ${name ?? ''}: neither "command" nor "environment" has {port}, so the app cannot be told its port`, commandE.value.pos);
  }
  const fields = readFields(r, m, APP_FIELDS);
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
  if (name === undefined || command === undefined) return null;
  const { directory, internal_host, external_host, external_port, proxy, stop_signal, max_retries, start_timeout, stop_timeout, drain_timeout, instances, queue_timeout } = fields;
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
    user,
    logger,
    source: m.pos,
  };
  const sources: AppSources = {
    app: m.pos,
    name: nameE?.value.pos ?? m.pos,
    proxy: get('proxy')?.keyPos ?? m.pos,
    listen: get('external_port')?.value.pos ?? get('external_host')?.value.pos ?? m.pos,
    healthcheck: hc,
  };
  return { config, sources };
}

/** `environment`: a list of `KEY=value` strings, or a mapping of keys to values. */
function readEnvironment(r: Reader, v: RawValue | undefined): string[] {
  if (v === undefined || isNull(v)) return [];
  if (v.kind === 'map') {
    const out: string[] = [];
    for (const e of v.entries) {
      const val = e.value.kind === 'scalar' && e.value.value !== null ? String(e.value.value) : r.string(e.value, `environment.${e.key}`);
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
