/**
 * Getting the control socket's path ready before listening: its folder exists, and a socket file
 * left behind by a daemon that died is removed — but only when nothing answers on it, so a second
 * daemon started by mistake fails loudly instead of stealing the first one's socket.
 */
import { connect } from 'node:net';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GvError } from '../errors.js';

/** True when something accepts a connection on the unix socket at `path`. */
export async function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ path });
    const done = (answer: boolean): void => {
      sock.destroy();
      resolve(answer);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    // A listener too busy to accept within a second is still a listener: do not remove its socket.
    sock.setTimeout(timeoutMs, () => done(true));
  });
}

/**
 * Make `path` ready to listen on: create its folder, remove a stale socket file. Rejects with
 * GV_ERR_CONTROL_LISTEN when the path is something other than a socket, or a live daemon owns it.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new GvError('GV_ERR_CONTROL_LISTEN', `cannot create the folder of the control socket ${path}: ${(err as Error).message}`, { cause: err });
  }
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new GvError('GV_ERR_CONTROL_LISTEN', `cannot inspect the control socket path ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isSocket()) {
    throw new GvError('GV_ERR_CONTROL_LISTEN', `${path} exists and is not a socket; refusing to replace it`);
  }
  if (await socketAnswers(path)) {
    throw new GvError('GV_ERR_CONTROL_LISTEN', `another process (a running gracevisord?) answers on the control socket ${path}`);
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new GvError('GV_ERR_CONTROL_LISTEN', `cannot remove the stale control socket ${path}: ${err.message}`, { cause: err });
  });
}
