/**
 * The sd_notify(3) protocol, so that a `Type=notify` unit knows when gracevisord serves: one datagram
 * per state change (`READY=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=…`, `MAINPID=…`) to the AF_UNIX
 * socket named by NOTIFY_SOCKET. Node's dgram has no unix sockets, so the datagram is sent by the
 * `notify` function of our own native addon; where the addon did not build, by `systemd-notify
 * --pid=<our pid>` (which systemd attributes to the daemon only when it runs as root).
 *
 * NOTIFY_SOCKET is taken out of the environment once read: an app the daemon spawns must not be able
 * to tell systemd that the daemon is ready, or stopping.
 */
import { execFile } from 'node:child_process';
import { loadSpliceAddon } from '../engines/splice-addon.js';

/** Sends one sd_notify message; resolves with null once sent, or why it was not. */
export type NotifySend = (socketPath: string, message: string) => Promise<string | null>;

/** The native addon's sender, or null where the addon is not there. */
function addonSend(): NotifySend | null {
  const load = loadSpliceAddon();
  const notify = load.addon?.notify;
  if (typeof notify !== 'function') return null;
  return (path, message) => Promise.resolve(notify(path, message));
}

/** `systemd-notify --pid=PID MESSAGE…` with NOTIFY_SOCKET set for it alone. */
export const systemdNotifySend: NotifySend = (path, message) =>
  new Promise((resolve) => {
    const lines = message.split('\n').filter((l) => l !== '');
    execFile('systemd-notify', [`--pid=${process.pid}`, ...lines], { env: { ...process.env, NOTIFY_SOCKET: path }, timeout: 5000 }, (err, _out, stderr) => {
      resolve(err ? `systemd-notify: ${(stderr || err.message).trim().split('\n')[0]}` : null);
    });
  });

/** Tells the service manager about the daemon's state; does nothing when not started by one. */
export class SdNotifier {
  readonly socket: string | null;
  readonly #send: NotifySend;
  readonly #onError: (why: string) => void;
  #queue: Promise<void> = Promise.resolve();
  #failedOnce = false;

  /**
   * @param env the environment NOTIFY_SOCKET is read from and then deleted from.
   * @param onError told (once) when a message could not be sent; the daemon logs it and runs on.
   * @param send the sender (default: the native addon, else systemd-notify).
   */
  constructor(env: NodeJS.ProcessEnv, onError: (why: string) => void, send?: NotifySend) {
    const socket = env.NOTIFY_SOCKET;
    delete env.NOTIFY_SOCKET;
    this.socket = socket !== undefined && socket !== '' ? socket : null;
    this.#send = send ?? addonSend() ?? systemdNotifySend;
    this.#onError = onError;
  }

  /** Queue one message (fields in order, `KEY=value` lines); messages are sent in order. */
  notify(fields: Record<string, string | number>): Promise<void> {
    const socket = this.socket;
    if (socket === null) return Promise.resolve();
    const message = Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`).join('\n');
    this.#queue = this.#queue.then(async () => {
      const why = await this.#send(socket, message).catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
      if (why !== null && !this.#failedOnce) {
        this.#failedOnce = true;
        this.#onError(`cannot notify the service manager at ${socket}: ${why}`);
      }
    });
    return this.#queue;
  }
}
