/**
 * What `gracevisord --conf PATH` does once its options are parsed: load the config (every error
 * printed, nothing started on failure), open the control API, start the apps, then live until a
 * signal. Signals:
 *   SIGTERM, SIGINT  graceful shutdown: stop accepting control connections, stop every app (drain,
 *                    stop_signal, stop_timeout), close the control API, exit 0.
 *   second one       while the graceful shutdown runs: SIGKILL every instance at once and exit 1.
 *                    (An operator pressing Ctrl-C twice means "now"; systemd's own final SIGKILL
 *                    comes only after TimeoutStopSec.)
 *   SIGHUP           reload the config, like `gracevisorctl reload`; a config that fails to load is
 *                    logged with file:line:col and changes nothing.
 * An uncaught exception or unhandled rejection is logged and the daemon keeps running: one app's
 * trouble (or one bug in a hook) must not take every other app down with it.
 */
import { createRegistry } from '../builtins.js';
import { GvConfigError, GvError, isGvError } from '../errors.js';
import { forgetLastDaemon, recordLastDaemon } from '../control/last-daemon.js';
import { startWeb, type WebHandle } from '../control/web/index.js';
import { MetricsListener } from '../control/metrics-listener.js';
import { ControlServer } from '../control/server.js';
import type { UpgradeBody } from '../control/wire.js';
import { Observability } from '../observe/index.js';
import { resolveServerToken } from '../control/token.js';
import { DaemonLog } from '../supervisor/daemon-log.js';
import { SdNotifier } from './sd-notify.js';
import type { HolderLink } from './holder-link.js';
import { procStartTime } from '../supervisor/proc.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { VERSION } from '../version.js';

/** Exit status of a daemon that stopped because it was asked to. */
const EXIT_OK = 0;
/** Exit status of a daemon that could not start, or was forced down by a second signal. */
const EXIT_FAILED = 1;

/** `file:line:col: CODE: message` on one line: parsers may add a code frame below the message. */
function oneLine(e: GvError): string {
  return new GvError(e.code, e.message.split('\n')[0]!, e.pos ? { pos: e.pos } : {}).format();
}

function describe(err: unknown): string {
  if (isGvError(err)) return err.format();
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** SIGKILL an instance's process group (instances lead their own), or the pid alone; gone is fine. */
function forceKill(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** CLOCK_MONOTONIC in microseconds (libuv's hrtime is CLOCK_MONOTONIC), as RELOADING=1 wants it. */
function monotonicUsec(): string {
  return String(process.hrtime.bigint() / 1000n);
}

/** `POST /v1/upgrade` under the holder: its answer, or GV_ERR_UPGRADE_FAILED with the new daemon's error. */
async function upgradeThrough(link: HolderLink): Promise<UpgradeBody> {
  const r = await link.upgrade();
  if (!r.ok) throw new GvError(r.code === 'GV_ERR_DAEMON_UPGRADING' ? 'GV_ERR_DAEMON_UPGRADING' : 'GV_ERR_UPGRADE_FAILED', r.message);
  return { from: r.from, to: r.to, durationMs: r.durationMs };
}

/** One line for systemctl status: how many apps serve, and which do not. */
function serving(sup: Supervisor): string {
  const apps = sup.status();
  const down = apps.filter((a) => a.state !== 'running' && a.state !== 'restarting').map((a) => `${a.name} ${a.state}`);
  return `${apps.length - down.length} of ${apps.length} apps serving${down.length > 0 ? `; ${down.join(', ')}` : ''}`;
}

/** The holder this worker runs under, from the environment the holder gave it. */
function holderOf(env: NodeJS.ProcessEnv): { pid: number; procStart: string | null } | null {
  const pid = Number(env.GRACEVISOR_HOLDER_PID);
  if (!Number.isInteger(pid) || pid <= 1) return null;
  return { pid, procStart: env.GRACEVISOR_HOLDER_START || procStartTime(pid) };
}

/**
 * Run the daemon in the foreground; resolves with the process exit status once it has stopped.
 * With `link` this process is the worker of gracevisord's holder (./holder.ts): its listeners and
 * instance pipes are kept across daemons, it adopts what a previous one left running, and it can
 * hand over to a successor (an upgrade).
 */
export async function runDaemon(confPath: string, io: { stderr: NodeJS.WritableStream }, link: HolderLink | null = null): Promise<number> {
  const log = new DaemonLog();
  const onUncaught = (err: unknown): void => log.error('uncaught exception (the daemon keeps running)', { error: describe(err) });
  const onUnhandled = (err: unknown): void => log.error('unhandled promise rejection (the daemon keeps running)', { error: describe(err) });
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  // Read (and taken out of the environment) before any app is spawned.
  const sd = new SdNotifier(process.env, (why) => log.warn(why, { event: 'notify_failed' }));

  const holder = link ? holderOf(process.env) : null;
  let sup: Supervisor;
  try {
    sup = await Supervisor.load(confPath, {
      log,
      createRegistry,
      ...(link && { keeper: link, output: 'fifo' as const }),
      ...(holder && { lockOwner: holder }),
    });
  } catch (err) {
    let why: string;
    if (err instanceof GvConfigError) {
      for (const e of err.errors) io.stderr.write(oneLine(e) + '\n');
      io.stderr.write(`gracevisord: the configuration did not load (${err.errors.length} problem${err.errors.length === 1 ? '' : 's'}); nothing was started\n`);
      why = err.errors.map(oneLine).join('; ');
    } else {
      io.stderr.write(`gracevisord: ${describe(err)}\n`);
      why = describe(err).split('\n')[0]!;
    }
    link?.exiting(EXIT_FAILED, 'startup-failed', why);
    await log.close();
    return EXIT_FAILED;
  }
  // Under the holder: wait for how to start (a takeover waits until the running daemon froze).
  const init = link ? await link.loaded() : { mode: 'start' as const, previous: null };
  if (init.previous) {
    const p = init.previous;
    log.warn(`the previous daemon (pid ${p.pid}) crashed (${p.signal ? `signal ${p.signal}` : `exit ${p.code}`}); taking over its apps and sockets`, { event: 'daemon_recovering', previous: p.pid });
  }

  const config = sup.config;
  // Events, alerts and metrics see everything from the first start on.
  const observe = await Observability.start(sup, (level, msg, fields) => log.write(level, msg, fields));
  let control: ControlServer | undefined;
  let metricsListener: MetricsListener | null = null;
  let web: WebHandle | null = null;
  let token: string | null = null;
  try {
    token = await resolveServerToken(config.rpc, config.run_dir);
    const tcp = token !== null && config.rpc.host !== null && config.rpc.port !== null ? { host: config.rpc.host, port: config.rpc.port, token } : null;
    control = new ControlServer({
      api: sup,
      observe,
      socket: config.rpc.socket,
      tcp,
      log,
      ...(link && { keeper: link, upgrade: () => upgradeThrough(link), holderPid: holder?.pid ?? null }),
    });
    await control.listen();
    if (config.metrics.listen) {
      metricsListener = new MetricsListener(observe.metrics, config.metrics.listen, config.metrics.token, link ?? undefined);
      await metricsListener.listen();
    }
  } catch (err) {
    log.error('cannot open the control API; nothing was started', { event: 'startup_failed', error: describe(err), ...(err instanceof GvError && { code: err.code }) });
    await control?.close().catch(() => undefined);
    await observe.close(0);
    if (init.mode === 'takeover') await sup.abandon().catch(() => undefined);
    else await sup.shutdown(null).catch(() => undefined);
    log.info('gracevisord stopped', { event: 'daemon_stopped', reason: 'control API failed', exitCode: EXIT_FAILED });
    link?.exiting(EXIT_FAILED, 'startup-failed', describe(err).split('\n')[0]!);
    await log.close();
    return EXIT_FAILED;
  }
  const controlServer: ControlServer = control;
  // Where this daemon listens, for gracevisorctl to fall back to when a config does not load.
  await recordLastDaemon({ socket: config.rpc.socket, conf: config.file, pid: process.pid });
  const tcpAddr = controlServer.tcpAddress();
  const metricsAddr = metricsListener?.address();
  log.info('control API listening', {
    event: 'control_listening',
    socket: config.rpc.socket,
    ...(tcpAddr && { tcp: `${tcpAddr.host}:${tcpAddr.port}` }),
    ...(metricsAddr && { metrics: `${metricsAddr.host}:${metricsAddr.port}` }),
  });

  // The dashboard (web.listen), with the same token; it follows reloads itself. It is not needed to
  // serve: when it cannot start, the daemon says why and runs without it.
  web = await startWeb({ sup, observe, token, log, ...(link && { keeper: link }) }).catch((err: unknown) => {
    log.error('the dashboard could not start; running without it', { event: 'web_failed', error: describe(err), ...(err instanceof GvError && { code: err.code }) });
    return null;
  });

  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => { resolveExit = r; });
  let stopping = false;

  /** Stop everything and exit with `exitCode`; a second call while stopping kills every instance and exits 1. */
  const shutdown = async (signal: string, exitCode: number = EXIT_OK): Promise<void> => {
    if (stopping) {
      log.warn(`second ${signal} during shutdown: killing every instance now`, { event: 'shutdown_forced', signal });
      const apps = sup.status();
      const killed = Promise.allSettled(apps.map((a) => sup.killApp(a.name)));
      await Promise.race([killed, new Promise((r) => setTimeout(r, 2000).unref())]);
      // Whatever the supervisor could not kill in time gets SIGKILL to its process group directly:
      // exiting while an app runs on would leave an orphan holding its port.
      for (const app of apps) for (const i of app.instances) if (i.pid !== null) forceKill(i.pid);
      log.info('gracevisord stopped', { event: 'daemon_stopped', reason: `second ${signal}: every instance killed`, exitCode: EXIT_FAILED });
      link?.exiting(EXIT_FAILED, 'shutdown');
      resolveExit(EXIT_FAILED);
      return;
    }
    stopping = true;
    if (handingOver) sup.thaw();
    void sd.notify({ STOPPING: 1, STATUS: `stopping (${signal})` });
    log.info(`${signal}: shutting down`, { event: 'shutting_down', signal });
    controlServer.stopAccepting();
    try {
      await sup.shutdown(signal);
    } catch (err) {
      log.error('shutdown did not complete cleanly', { error: describe(err) });
    }
    await web?.close();
    await observe.close();
    await metricsListener?.close();
    await controlServer.close();
    await forgetLastDaemon(config.file);
    log.info('gracevisord stopped', { event: 'daemon_stopped', reason: signal, exitCode });
    link?.exiting(exitCode, 'shutdown');
    resolveExit(exitCode);
  };

  let reloading: Promise<void> = Promise.resolve();
  const reload = (): void => {
    // One reload at a time: a burst of SIGHUPs reloads in order, never concurrently.
    reloading = reloading.then(async () => {
      if (stopping) return;
      log.info('SIGHUP: reloading the configuration', { event: 'reload_started', signal: 'SIGHUP' });
      try {
        const r = await sup.reload();
        log.info('reload done', { event: 'reload_done', added: r.added, removed: r.removed, changed: r.changed, unchanged: r.unchanged });
      } catch (err) {
        if (err instanceof GvConfigError) {
          for (const e of err.errors) log.error('reload: ' + oneLine(e), { event: 'reload_problem', code: e.code });
          log.error('reload failed: the configuration did not load; nothing was changed', { event: 'reload_failed', code: err.code });
        } else {
          log.error('reload failed; nothing was changed', { event: 'reload_failed', error: describe(err) });
        }
      }
    });
  };

  // Under the holder: a successor takes over (an upgrade). Freeze, then thaw if it failed, or retire:
  // stop accepting, let the open connections finish, exit — the instances are the successor's now.
  let handingOver = false;
  // Set once retiring: the instances are the successor's, so no signal may stop or kill them from here.
  let retired = false;
  link?.handle({
    freeze: async () => {
      handingOver = true;
      log.info('upgrade: a new daemon loaded its config; handing over', { event: 'handover_started' });
      return sup.freeze();
    },
    thaw: async () => {
      handingOver = false;
      sup.thaw();
    },
    retire: async () => {
      if (stopping) return;
      stopping = true;
      retired = true;
      controlServer.stopAccepting();
      await metricsListener?.close();
      await web?.close();
      try {
        await sup.retire();
      } catch (err) {
        log.error('handing over did not complete cleanly', { error: describe(err) });
      }
      await observe.close(0);
      await controlServer.close({ handover: true });
      log.info('gracevisord stopped: the new daemon serves', { event: 'daemon_stopped', reason: 'handover', exitCode: EXIT_OK });
      link.exiting(EXIT_OK, 'handover');
      resolveExit(EXIT_OK);
    },
    orphaned: () => {
      // The holder is gracevisord as the operator and systemd know it: when it is gone (killed), this
      // daemon is not left running unseen — it stops as on SIGTERM, and the next start begins clean.
      if (stopping) return;
      log.warn('the holder went away (killed?): shutting down', { event: 'holder_lost' });
      void shutdown('holder lost');
    },
  });

  const onTerm = (): void => void (retired ? undefined : shutdown('SIGTERM'));
  const onInt = (): void => void (retired ? undefined : shutdown('SIGINT'));
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', reload);

  // systemd's view of reloads, from SIGHUP and from the control API alike.
  const notifyHooks = sup.hooks.subscriber('gracevisord');
  notifyHooks.on('onReloadStarted', () => void sd.notify({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), STATUS: 'reloading the configuration' }));
  notifyHooks.on('onConfigReloaded', () => void sd.notify({ READY: 1, STATUS: serving(sup) }));
  notifyHooks.on('onReloadFailed', (_ctx, e) => void sd.notify({ READY: 1, STATUS: `reload failed (${e.error.code}), nothing was changed; ${serving(sup)}` }));
  try {
    log.info('gracevisord starting', { event: 'daemon_starting', version: VERSION, pid: process.pid, config: config.file, mode: init.mode });
    await sup.start({ takeover: init.mode === 'takeover' });
    // Every listener this config uses is taken by now: the rest would stay bound in the holder.
    const released = link?.releaseUntaken() ?? [];
    if (released.length > 0) log.info('closed the listeners this config no longer uses', { event: 'listeners_released', keys: released.join(',') });
    link?.ready(VERSION);
    // Every app serves, or failed its first attempt (and shows as such): either way the daemon is up,
    // and holding systemd at "activating" would only get every app killed at TimeoutStartSec. Under
    // the holder, the holder is the main process systemd follows, whichever worker serves.
    void sd.notify({ READY: 1, MAINPID: holder?.pid ?? process.pid, STATUS: serving(sup) });
  } catch (err) {
    log.error('startup failed; stopping', { event: 'startup_failed', error: describe(err), ...(err instanceof GvError && { code: err.code }) });
    if (init.mode === 'takeover') {
      // The daemon being taken over keeps everything: leave what was adopted, exit.
      await sup.abandon().catch(() => undefined);
      link?.exiting(EXIT_FAILED, 'startup-failed', describe(err).split('\n')[0]!);
      resolveExit(EXIT_FAILED);
    } else {
      link?.exiting(EXIT_FAILED, 'startup-failed', describe(err).split('\n')[0]!);
      void shutdown('startup failure', EXIT_FAILED);
    }
  }

  const code = await exited;
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  process.off('SIGHUP', reload);
  await log.close();
  return code;
}
