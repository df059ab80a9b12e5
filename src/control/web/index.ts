/**
 * The live web dashboard (docs/architecture.md "Web dashboard"): `startWeb` is all gracevisord calls. It opens the listener
 * `web.listen` names — when the config has a `web` section — after the control API, with the same
 * token, and follows reloads: a reload that turns `web` on, off, or moves it applies at once (when
 * the new address cannot be bound, the old one is bound again and the failure is logged). The token
 * is the control API's, decided once at start; sessions survive a move, not a daemon restart.
 *
 * Trust before features: the dashboard only reads the supervisor's status and the event stream, and
 * asks for the same three operations as gracevisorctl (restart, stop, start). Every stream it serves
 * is bounded, and nothing a page does can stall the daemon or another app.
 */
import type { Config, WebConfig } from '../../config/model.js';
import { NO_KEEPER, tcpKey, type Keeper } from '../../supervisor/handover.js';
import type { ObservedSupervisor, Observability } from '../../observe/index.js';
import type { ControlLog } from '../server.js';
import { resolveServerToken, tokenFilePath } from '../token.js';
import { defaultAssetsDir, loadAssets } from './assets.js';
import { LoginThrottle, Sessions } from './auth.js';
import { ConfigHistory } from './config-state.js';
import { LiveStreams, StreamSlots } from './live.js';
import { RestartTracker } from './restarts.js';
import { WebServer, type WebContext } from './server.js';

/** Streams (live pages and log tails) open at once over the whole dashboard. */
export const MAX_STREAMS = 16;

/** How to start the dashboard. */
export interface StartWebOptions {
  /** The supervisor: its status and operations, and its config (re-read at every reload). */
  sup: ObservedSupervisor;
  observe: Observability;
  /** The control token when the daemon resolved one (TCP is on); else it is resolved here when `web` is on. */
  token: string | null;
  log: ControlLog;
  /** Where the front end is; default dist/web/ of this package. */
  assetsDir?: string;
  /** Poll interval of the log tail, ms. */
  followIntervalMs?: number;
  /** Time between rate samples, ms (1 s). */
  sampleMs?: number;
  /** Keeps the listener across daemons (gracevisord's holder); none in an embedded daemon. */
  keeper?: Keeper;
}

/** A running dashboard. */
export interface WebHandle {
  /** The address listened on, or null while `web` is off. */
  address(): { host: string; port: number } | null;
  /** Stop listening and end every stream (daemon shutdown). */
  close(): Promise<void>;
}

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || h.startsWith('127.') || h === '::ffff:127.0.0.1';
}

/** The URL of `host:port`, brackets for IPv6. */
function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

/** Where the operator finds the token, said in the log and on the login form (never the token itself). */
function tokenHint(config: Config): string {
  if (config.rpc.token !== null && config.rpc.token !== '') return 'rpc.token of the config';
  if (config.rpc.token_file !== null) return `in ${config.rpc.token_file} (rpc.token_file)`;
  return `in ${tokenFilePath(config.run_dir)}`;
}

/**
 * Start the dashboard for the daemon's config; resolves once it listens (or at once when `web` is
 * off). Rejects with GV_ERR_WEB_LISTEN when the address cannot be bound, like the control API.
 */
export async function startWeb(opts: StartWebOptions): Promise<WebHandle> {
  const { sup, observe, log } = opts;
  const keeper = opts.keeper ?? NO_KEEPER;
  /** Close a listener that is gone from the config for good (the keeper lets it go too). */
  const retire = async (s: WebServer | null, web: WebConfig | null): Promise<void> => {
    await s?.close();
    if (web) keeper.drop(tcpKey(web.listen.host, web.listen.port));
  };
  const events = observe.events;
  const assetsDir = opts.assetsDir ?? defaultAssetsDir();
  const assets = await loadAssets(assetsDir);
  const slots = new StreamSlots(MAX_STREAMS);
  let live: LiveStreams | null = null;
  const tracker = new RestartTracker(events, (r) => live?.restartChanged(r));
  live = new LiveStreams({ api: sup, events, restarts: () => tracker.all(), ...(opts.sampleMs !== undefined && { sampleMs: opts.sampleMs }) });
  const configs = new ConfigHistory(events, new Date(Date.now() - process.uptime() * 1000).toISOString());
  let token = opts.token;
  let current: WebConfig | null = null;
  let server: WebServer | null = null;
  let ctx: WebContext | null = null;

  const context = async (config: Config): Promise<WebContext> => {
    token ??= await resolveServerToken(config.rpc, config.run_dir, { web: true });
    ctx ??= {
      api: sup,
      token: token!,
      tokenHint: tokenHint(config),
      secure: () => current?.behind_tls === true,
      sessions: new Sessions(),
      throttle: new LoginThrottle(),
      slots,
      live: live!,
      assets,
      assetsDir,
      restarts: (app) => tracker.of(app),
      appConfig: (app) => sup.config.apps.find((a) => a.name === app) ?? null,
      plugins: () => observe.plugins(),
      configCheck: () => configs.check(sup.config.file, sup.status().length),
      log,
      ...(opts.followIntervalMs !== undefined && { followIntervalMs: opts.followIntervalMs }),
    };
    return ctx;
  };

  /**
   * Listen on `web`. A move closes the old listener first, then binds the new address; when that
   * fails, the old address is bound again (and the failure goes to the caller, who logs it).
   */
  const apply = async (web: WebConfig | null, config: Config): Promise<void> => {
    if (JSON.stringify(web) === JSON.stringify(current)) return;
    const old = server;
    const was = current;
    if (current !== null && web !== null && old !== null && JSON.stringify(web.listen) === JSON.stringify(current.listen)) {
      current = web;
      return;
    }
    server = null;
    current = null;
    await retire(old, was);
    if (web === null) {
      log.info('dashboard closed: web is no longer in the config', { event: 'web_closed' });
      return;
    }
    const c = await context(config);
    const next = new WebServer(c);
    try {
      await next.listen(web.listen.host, web.listen.port, keeper);
    } catch (err) {
      if (was !== null && old !== null) {
        const back = new WebServer(c);
        await back.listen(was.listen.host, was.listen.port, keeper).then(() => {
          server = back;
          current = was;
        }, () => undefined);
      }
      throw err;
    }
    server = next;
    current = web;
    listening(next, web, config);
  };

  /** Say where the dashboard is, once per listener: where to open it and where the token is. */
  const listening = (s: WebServer, web: WebConfig, config: Config): void => {
    const a = s.address()!;
    const url = urlOf(a.host, a.port);
    log.info(`dashboard listening on ${url}: open ${url}?token=<the control token, ${ctx!.tokenHint}>`, { event: 'web_listening', url, ...(config.rpc.token === null && config.rpc.token_file === null && { token_file: tokenFilePath(config.run_dir) }) });
    if (!isLoopback(a.host) && !web.behind_tls) {
      log.warn(`the dashboard listens on ${a.host}, which is not loopback: anyone who can reach it gets the login form, and the token and session cookie cross the network in clear. Put a TLS proxy in front and set web.behind_tls, or listen on 127.0.0.1`, { event: 'web_not_loopback', address: `${a.host}:${a.port}` });
    }
  };

  // One change at a time, in the order the reloads happened.
  let applying: Promise<void> = Promise.resolve();
  const offReload = events.subscribe((e) => {
    if (e.event !== 'config_reloaded') return;
    applying = applying.then(() => apply(sup.config.web, sup.config)).catch((err: unknown) => {
      log.error('reload: the dashboard could not move to its new address; it stays where it was', { event: 'web_listen_failed', error: err instanceof Error ? err.message : String(err) });
    });
  });

  try {
    await apply(sup.config.web, sup.config);
  } catch (err) {
    offReload();
    tracker.close();
    configs.close();
    throw err;
  }

  return {
    address: () => server?.address() ?? null,
    close: async () => {
      offReload();
      await applying;
      live?.close();
      await server?.close();
      server = null;
      tracker.close();
      configs.close();
    },
  };
}
