/**
 * Where the daemon started with a given config said it listens: one small record per config file,
 * `<default run_dir>/daemons/<hash of the config's path>.json`, written by gracevisord when its
 * control API is up and removed when it stops. gracevisorctl falls back to it for a read-only command
 * when the config it was pointed at does not load (an operator mid-edit still gets `status`): the
 * record says which socket the daemon of *that* config listens on, whatever the broken file now says.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_RUN_DIR } from '../config/defaults.js';

/** What the record holds. */
export interface LastDaemon {
  socket: string;
  /** The config file it was started with (resolved: the file, not its folder). */
  conf: string;
  pid: number;
  at: string;
}

/** The folder of the records, for this user. */
export const DAEMON_RECORDS_DIR: string = join(DEFAULT_RUN_DIR, 'daemons');

/** The record's path for the daemon of config file `conf`. */
export function daemonRecordFile(conf: string, dir = DAEMON_RECORDS_DIR): string {
  return join(dir, `${createHash('sha256').update(conf).digest('hex').slice(0, 24)}.json`);
}

/** Write the record (0600); a failure is only the fallback's loss, so it is returned, not thrown. */
export async function recordLastDaemon(rec: Omit<LastDaemon, 'at'>, dir = DAEMON_RECORDS_DIR): Promise<Error | null> {
  const file = daemonRecordFile(rec.conf, dir);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ ...rec, at: new Date().toISOString() }) + '\n', { mode: 0o600 });
    await rename(tmp, file);
    return null;
  } catch (err) {
    return err as Error;
  }
}

/** The record of the daemon of config file `conf`, or null when there is none (or it does not read). */
export async function readLastDaemon(conf: string, dir = DAEMON_RECORDS_DIR): Promise<LastDaemon | null> {
  try {
    const rec = JSON.parse(await readFile(daemonRecordFile(conf, dir), 'utf8')) as Partial<LastDaemon>;
    return typeof rec.socket === 'string' && rec.conf === conf && typeof rec.pid === 'number' ? (rec as LastDaemon) : null;
  } catch {
    return null;
  }
}

/** Remove the record of `conf` if it is this process's (a stopped daemon has no socket to fall back to). */
export async function forgetLastDaemon(conf: string, dir = DAEMON_RECORDS_DIR): Promise<void> {
  const rec = await readLastDaemon(conf, dir);
  if (rec?.pid === process.pid) await rm(daemonRecordFile(conf, dir), { force: true }).catch(() => undefined);
}
