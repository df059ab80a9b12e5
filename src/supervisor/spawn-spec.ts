/**
 * How an instance's process is started: the command split the way a shell splits words, `{port}`
 * filled in, the environment added to the daemon's, and the user switched when one is configured.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { splitCommandWords } from '../config/command.js';
import { GvError } from '../errors.js';
import type { AppConfig } from '../config/model.js';

const run = promisify(execFile);

/** What `spawn()` is given for one instance. */
export interface SpawnSpec {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
  uid: number | undefined;
  gid: number | undefined;
}

/** A user resolved from its name. */
export interface ResolvedUser {
  username: string;
  uid: number;
  gid: number;
  /** Supplementary group ids. */
  groups: number[];
}

/** Fill `{port}` in a string. */
export function fillPort(text: string, port: number): string {
  return text.replaceAll('{port}', String(port));
}

/**
 * The argv of `command` (src/config/command.ts: split like a shell, run without one). Shell syntax
 * and an empty command are refused with GV_ERR_SPAWN; the config check refuses them earlier, at
 * their position, so this is the last line of defence.
 */
export function splitCommand(command: string): string[] {
  const r = splitCommandWords(command);
  if (r.shell !== null) {
    throw new GvError('GV_ERR_SPAWN', `command has the shell syntax ${r.shell}; gracevisor runs the command without a shell, wrap it in sh -c '…' if you need one`, {
      details: { command, operator: r.shell },
    });
  }
  if (r.argv.length === 0) throw new GvError('GV_ERR_SPAWN', 'command is empty', { details: { command } });
  return r.argv;
}

/** `KEY=value` entries (with `{port}` filled in) added over the daemon's environment. */
export function buildEnv(entries: readonly string[], port: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new GvError('GV_ERR_SPAWN', `environment entry ${JSON.stringify(entry)} is not KEY=value`, { details: { entry } });
    env[entry.slice(0, eq)] = fillPort(entry.slice(eq + 1), port);
  }
  return env;
}

/** Look `username` up with `id` (works with NSS, not only /etc/passwd). GV_ERR_CONFIG_USER when unknown. */
export async function resolveUser(username: string): Promise<ResolvedUser> {
  try {
    const [u, g, gs] = await Promise.all([
      run('id', ['-u', username]),
      run('id', ['-g', username]),
      run('id', ['-G', username]),
    ]);
    return {
      username,
      uid: Number(u.stdout.trim()),
      gid: Number(g.stdout.trim()),
      groups: gs.stdout.trim().split(/\s+/).filter(Boolean).map(Number),
    };
  } catch (err) {
    throw new GvError('GV_ERR_CONFIG_USER', `user ${username} does not exist`, { cause: err, details: { username } });
  }
}

/**
 * Check that the daemon may run as `user`: root may switch to anyone; anyone else only to itself
 * (GV_ERR_USER_SWITCH otherwise).
 */
export function checkUserSwitch(user: ResolvedUser): void {
  const me = process.getuid?.();
  if (me === undefined || me === 0 || me === user.uid) return;
  throw new GvError('GV_ERR_USER_SWITCH', `the daemon runs as uid ${me} and cannot run an app as ${user.username} (uid ${user.uid}); run gracevisord as root or drop the user setting`, {
    details: { username: user.username, uid: user.uid, daemonUid: me },
  });
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;

/**
 * The spawn arguments of one instance. Node's `uid`/`gid` options drop supplementary groups (libuv
 * calls setgroups(0)), so when switching user and util-linux `setpriv` is installed the command runs
 * through `setpriv --reuid --regid --groups … --` (it execs, so the pid is the app's); without setpriv
 * the app gets uid and gid only.
 */
export function buildSpawnSpec(app: AppConfig, port: number, user: ResolvedUser | null): SpawnSpec {
  const argv = splitCommand(app.command).map((w) => fillPort(w, port));
  const env = buildEnv(app.environment, port);
  const cwd = app.directory ?? undefined;
  const switching = user !== null && user.uid !== process.getuid?.();
  if (!switching || !user) return { file: argv[0]!, args: argv.slice(1), env, cwd, uid: undefined, gid: undefined };
  env.USER = user.username;
  env.LOGNAME = user.username;
  if (SETPRIV) {
    const groups = user.groups.length > 0 ? user.groups.join(',') : String(user.gid);
    return { file: SETPRIV, args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, `--groups=${groups}`, '--', ...argv], env, cwd, uid: undefined, gid: undefined };
  }
  return { file: argv[0]!, args: argv.slice(1), env, cwd, uid: user.uid, gid: user.gid };
}
