/**
 * Binding an engine's public listener, shared by every built-in engine so they fail alike:
 * a bind error becomes GV_ERR_ENGINE_LISTEN naming the app and address, and a later listener
 * error is logged rather than thrown (an 'error' with no listener would take the daemon down).
 */
import type net from 'node:net';
import { GvError } from '../errors.js';
import type { EngineOptions } from '../plugins/engine.js';

/**
 * Listen on `opts.host:opts.port`, or on `opts.listenHandle` when a previous daemon handed one over;
 * resolves once listening. `kind` names the engine in log lines.
 */
export function listenOn(server: net.Server, opts: EngineOptions, kind: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new GvError('GV_ERR_ENGINE_LISTEN', `app ${opts.app}: cannot listen on ${opts.host}:${opts.port}: ${err.code ?? err.message}`, {
        cause: err, details: { app: opts.app, host: opts.host, port: opts.port },
      }));
    };
    server.once('error', onError);
    const ready = (): void => {
      server.off('error', onError);
      server.on('error', (err) => opts.log('error', `${kind} engine listener error`, { app: opts.app, error: err.message }));
      resolve();
    };
    if (opts.listenHandle) server.listen(opts.listenHandle as net.ListenOptions, ready);
    else server.listen(opts.port, opts.host, ready);
  });
}

/** The handle of a listening `server` (to hand over to a new daemon), or null. */
export function serverHandle(server: net.Server): object | null {
  const h = (server as unknown as { _handle?: object | null })._handle;
  return server.listening && h ? h : null;
}

/** The address `server` is bound to, or the configured one before it is. */
export function boundAddress(server: net.Server, opts: EngineOptions): { host: string; port: number } {
  const a = server.address();
  if (a && typeof a === 'object') return { host: a.address, port: a.port };
  return { host: opts.host, port: opts.port };
}
