/**
 * Phase 3 of loading (docs/architecture.md "Config"): checking a resolved config against what the
 * registered plugins provide — each app's engine exists and is usable here, each health check type
 * exists and accepts its options (the type parses its own, and its normalised options replace the
 * ones given). The config layer knows no registry: whoever holds one hands in this view of it.
 */
import { GvError, type SourcePosition } from '../errors.js';
import type { AlertConfig, AppConfig, HealthcheckConfig } from './model.js';
import { deepFreeze, type ConfigDraft } from './resolve.js';
import { ALERT_COMMON_KEYS, type AlertRead } from './sections/alerts.js';
import { HEALTHCHECK_COMMON_KEYS } from './sections/healthcheck.js';
import type { AppSources } from './sections/app.js';
import { suggest } from './suggest.js';

/** Whether a registered thing can be used here. */
export interface Availability {
  available: boolean;
  reason: string | null;
}

/** A health check type as the config layer sees it: only its option parser. */
export interface HealthcheckParser {
  /** Validate and normalise the type's options; throw (a GvError naming `details.option`, or any error) to reject them. */
  parse?(options: Record<string, unknown>, pos: SourcePosition): Record<string, unknown>;
}

/** An alerter type as the config layer sees it: only its option parser. */
export type AlerterParser = HealthcheckParser;

/** What phase 3 may ask of the registry (src/plugins/registry.ts implements it: `Registry.configView()`). */
export interface ConfigRegistryView {
  /** The engine registered as `engines.<name>`, or undefined when none is. */
  engine(name: string): Availability | undefined;
  /** The health check type registered as `healthchecks.<type>`, or undefined when none is. */
  healthcheck(type: string): HealthcheckParser | undefined;
  /** The alerter registered as `alerters.<type>`, or undefined; views without it check no alerts. */
  alerter?(type: string): AlerterParser | undefined;
  /** The registered keys of a kind, for "did you mean". */
  names?(kind: 'engines' | 'healthchecks' | 'alerters'): string[];
}

/** Check every app of `draft` against `registry`; returns the draft with normalised apps and the new problems added. */
export function validateConfig(draft: ConfigDraft, registry: ConfigRegistryView): ConfigDraft {
  const errors = [...draft.errors];
  const apps = draft.config.apps.map((app, i) => validateApp(app, draft.sources.apps[i]!, registry, errors));
  const alerts = validateAlerts(draft.config.alerts, draft.sources.alerts, registry, errors, null);
  return { ...draft, config: deepFreeze({ ...draft.config, alerts, apps }), errors };
}

/** Alert routes against their types: each exists and parses its own options (normalised in the result). */
function validateAlerts(routes: readonly AlertConfig[], reads: readonly AlertRead[], registry: ConfigRegistryView, errors: GvError[], app: string | null): AlertConfig[] {
  if (!registry.alerter) return [...routes];
  return routes.map((route, i) => {
    const read = reads[i]!;
    const where = app ? `app ${app}: ` : '';
    const def = registry.alerter!(route.type);
    if (!def) {
      const suggestion = registry.names ? suggest(route.type, registry.names('alerters')) : null;
      errors.push(new GvError('GV_ERR_CONFIG_ALERT', `${where}no alerter "${route.type}" is registered${suggestion ? `; did you mean "${suggestion}"?` : ''}`, {
        pos: read.pos,
        details: { type: route.type, suggestion },
      }));
      return route;
    }
    if (!def.parse) return route;
    try {
      const parsed = def.parse({ ...read.options }, read.pos);
      const { type, events, interval, timeout, retries } = route;
      const out: AlertConfig = { type, events, interval, timeout, retries };
      for (const k of Object.keys(parsed).sort()) if (!ALERT_COMMON_KEYS.includes(k)) out[k] = parsed[k];
      return out;
    } catch (err) {
      errors.push(optionError('GV_ERR_CONFIG_ALERT', err, app, 'alert', route.type, read.pos, read.optionPos));
      return route;
    }
  });
}

/**
 * The error a type's parser raised, placed at the option it names (`details.option`) when known,
 * else where the parser said, else at `pos`; its message as `app A: <kind> <type>: …`.
 */
function optionError(code: 'GV_ERR_CONFIG_HEALTHCHECK' | 'GV_ERR_CONFIG_ALERT', err: unknown, app: string | null, kind: 'healthcheck' | 'alert', type: string, pos: SourcePosition, optionPos: Record<string, SourcePosition>): GvError {
  const gv = err instanceof GvError ? err : undefined;
  const option = gv?.details?.option;
  const at = (typeof option === 'string' ? optionPos[option] : undefined) ?? gv?.pos ?? pos;
  const message = err instanceof Error ? err.message : String(err);
  const body = message.startsWith(`${kind} `) ? message : `${kind} ${type}: ${message}`;
  return new GvError(code, `${app ? `app ${app}: ` : ''}${body}`, { pos: at, details: { type, ...(gv?.details ?? {}) } });
}

/** One app: its engine and its health check. Returns the app, with its check's options normalised. */
export function validateApp(original: AppConfig, src: AppSources, registry: ConfigRegistryView, errors: GvError[]): AppConfig {
  let app = original;
  const engine = registry.engine(app.proxy);
  if (!engine) {
    const suggestion = registry.names ? suggest(app.proxy, registry.names('engines')) : null;
    errors.push(new GvError('GV_ERR_CONFIG_ENGINE_UNKNOWN', `app ${app.name}: no engine "${app.proxy}" is registered${suggestion ? `; did you mean "${suggestion}"?` : ''}`, {
      pos: src.proxy,
      details: { engine: app.proxy, suggestion },
    }));
  } else if (!engine.available) {
    errors.push(new GvError('GV_ERR_CONFIG_ENGINE_UNAVAILABLE', `app ${app.name}: engine "${app.proxy}" is not available here: ${engine.reason ?? 'no reason given'}`, {
      pos: src.proxy,
      details: { engine: app.proxy, reason: engine.reason },
    }));
  }
  const alerts = validateAlerts(app.alerts, src.alerts, registry, errors, app.name);
  if (alerts.some((a, i) => a !== app.alerts[i])) app = { ...app, alerts };
  const hc = src.healthcheck;
  if (!hc || !app.healthcheck) return app;
  const def = registry.healthcheck(hc.config.type);
  if (!def) {
    const suggestion = registry.names ? suggest(hc.config.type, registry.names('healthchecks')) : null;
    errors.push(new GvError('GV_ERR_CONFIG_HEALTHCHECK', `app ${app.name}: no health check type "${hc.config.type}" is registered${suggestion ? `; did you mean "${suggestion}"?` : ''}`, {
      pos: hc.pos,
      details: { type: hc.config.type, suggestion },
    }));
    return app;
  }
  if (!def.parse) return app;
  try {
    const parsed = def.parse({ ...hc.options }, hc.pos);
    const { type, interval, timeout, unhealthy_threshold } = app.healthcheck;
    const healthcheck: HealthcheckConfig = { type, interval, timeout, unhealthy_threshold };
    for (const k of Object.keys(parsed).sort()) if (!HEALTHCHECK_COMMON_KEYS.includes(k)) healthcheck[k] = parsed[k];
    return { ...app, healthcheck };
  } catch (err) {
    errors.push(optionError('GV_ERR_CONFIG_HEALTHCHECK', err, app.name, 'healthcheck', hc.config.type, hc.pos, hc.optionPos));
    return app;
  }
}
