/**
 * The run directory of one daemon: `state.json` records every live instance (pid, process group,
 * port, app, start time) so that a daemon killed without cleanup can, on its next start, stop what
 * the previous run left behind; `gracevisord.lock` keeps two daemons off one run directory.
 * Every write goes to a temporary file renamed over the old one, so a crash never leaves half a file,
 * and happens before the change it records returns, so a crash never leaves a process unrecorded.
 * Both files are the daemon user's only (0600).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, unlink, open } from 'node:fs/promises';
import { join } from 'node:path';
import { GvError } from '../errors.js';
import { groupAlive, isSameProcess, killGroup, procStartTime } from './proc.js';

/** One live instance as recorded. */
export interface InstanceRecord {
  app: string;
  id: string;
  pid: number;
  pgid: number;
  port: number;
  /** ISO time of spawn. */
  started_at: string;
  /** /proc start time of the pid, to tell it from a later process that reused the pid. */
  proc_start: string | null;
  /** Fingerprint of the app's config it was started with (an adopting daemon replaces a stale one). */
  config_hash?: string;
}

interface StateDoc {
  daemon: { pid: number; proc_start: string | null };
  instances: InstanceRecord[];
}

/** What recovery did with one leftover instance. */
export interface RecoveredInstance extends InstanceRecord {
  /** `stopped` (gone after stop_signal), `killed` (needed SIGKILL) or `gone` (already not running). */
  outcome: 'stopped' | 'killed' | 'gone';
}

/** The state file and lock of one run directory. */
export class StateFile {
  readonly dir: string;
  readonly path: string;
  readonly lockPath: string;
  readonly #records = new Map<string, InstanceRecord>();
  #locked = false;
  readonly #onError: (err: GvError) => void;
  readonly #owner: { pid: number; procStart: string | null } | null;
  readonly #onChange: (records: InstanceRecord[]) => void;
  /** Set by {@link detach}: a successor daemon writes the file from now on. */
  #detached = false;

  /**
   * `onError` hears about writes that failed (the daemon keeps running; the next write retries).
   * `opts.owner` is the process the lock names (default this one): gracevisord's holder, so that a
   * successor daemon under the same holder may take the run directory over. `opts.onChange` hears
   * the records after every write.
   */
  constructor(runDir: string, onError: (err: GvError) => void = () => {}, opts: { owner?: { pid: number; procStart: string | null }; onChange?: (records: InstanceRecord[]) => void } = {}) {
    this.#onError = onError;
    this.#owner = opts.owner ?? null;
    this.#onChange = opts.onChange ?? (() => {});
    this.dir = runDir;
    this.path = join(runDir, 'state.json');
    this.lockPath = join(runDir, 'gracevisord.lock');
  }

  /**
   * Take the run directory for this process. Rejects with GV_ERR_DAEMON_RUNNING when another live
   * daemon holds it; a lock left by a dead daemon is taken over.
   */
  async lock(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw new GvError('GV_ERR_STATE_FILE', `cannot create run_dir ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    const ownerPid = this.#owner?.pid ?? process.pid;
    const mine = JSON.stringify({ pid: ownerPid, proc_start: this.#owner ? this.#owner.procStart : procStartTime(process.pid) });
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(this.lockPath, 'wx', 0o600);
        await fh.writeFile(mine);
        await fh.close();
        this.#locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new GvError('GV_ERR_STATE_FILE', `cannot write ${this.lockPath}: ${(err as Error).message}`, { cause: err });
        }
      }
      let holder: { pid?: number; proc_start?: string | null } = {};
      try {
        holder = JSON.parse(await readFile(this.lockPath, 'utf8')) as typeof holder;
      } catch {
        // Unreadable or half-written lock: treat as stale.
      }
      // A lock that names our own owner (this process, or the holder a predecessor daemon shared
      // with us) is ours to take over.
      if (typeof holder.pid === 'number' && holder.pid !== ownerPid && isSameProcess(holder.pid, holder.proc_start ?? null)) {
        throw new GvError('GV_ERR_DAEMON_RUNNING', `another gracevisord (pid ${holder.pid}) is running with run_dir ${this.dir}`, {
          details: { pid: holder.pid, runDir: this.dir },
        });
      }
      await unlink(this.lockPath).catch(() => {});
    }
    throw new GvError('GV_ERR_STATE_FILE', `cannot take the lock ${this.lockPath}`);
  }

  /**
   * Hand the run directory to a successor daemon: from now on this one writes neither the state
   * file nor removes the lock (the successor has both).
   */
  detach(): void {
    this.#detached = true;
  }

  /** Undo {@link detach} (the successor died first): write the records again, now. */
  reattach(): void {
    this.#detached = false;
    this.#write();
  }

  /**
   * Sort what a previous run left: records `keep` accepts whose process still runs are returned to
   * be adopted (and stay recorded); every other live one is stopped as {@link recover} does. The
   * state file is rewritten with the kept records only.
   */
  async takeLeftovers(keep: (r: InstanceRecord) => boolean, graceMs = 2000): Promise<{ adopt: InstanceRecord[]; stopped: RecoveredInstance[] }> {
    const leftovers = await this.readLeftovers();
    const adopt: InstanceRecord[] = [];
    const rest: InstanceRecord[] = [];
    for (const r of leftovers) {
      if (keep(r) && isSameProcess(r.pid, r.proc_start)) adopt.push(r);
      else rest.push(r);
    }
    const stopped = await Promise.all(rest.map((r) => stopLeftover(r, graceMs)));
    this.#records.clear();
    for (const r of adopt) this.#records.set(r.id, r);
    await this.flush();
    return { adopt, stopped };
  }

  /** Release the run directory (the lock file is removed). */
  async unlock(): Promise<void> {
    if (!this.#locked || this.#detached) return;
    this.#locked = false;
    await unlink(this.lockPath).catch(() => {});
  }

  /** Instances a previous run recorded, or [] when there is no state file. */
  async readLeftovers(): Promise<InstanceRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new GvError('GV_ERR_STATE_FILE', `cannot read ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const doc = JSON.parse(text) as Partial<StateDoc>;
      return Array.isArray(doc.instances) ? doc.instances.filter((r) => Number.isInteger(r?.pid) && r.pid > 1) : [];
    } catch {
      // A corrupt file cannot name anything safely; nothing to recover.
      return [];
    }
  }

  /**
   * Stop every instance a previous run left: stop_signal-like SIGTERM to its group, up to
   * `graceMs`, then SIGKILL. A pid that now belongs to another process (start time differs) is left
   * alone. Then the state file is rewritten empty (when this process holds the lock).
   */
  async recover(graceMs = 2000): Promise<RecoveredInstance[]> {
    const leftovers = await this.readLeftovers();
    const out = await Promise.all(leftovers.map((rec) => stopLeftover(rec, graceMs)));
    await this.flush();
    return out;
  }

  /**
   * Record a live instance. Written out before this returns (synchronously: a small file, a few
   * hundred microseconds): the daemon may die the next moment (a plugin's `process.exit`, a SIGKILL),
   * and its successor must know every process it left, a starting one included.
   */
  add(rec: InstanceRecord): void {
    this.#records.set(rec.id, rec);
    this.#write();
  }

  /** Forget an instance whose process is gone (written out at once too). */
  remove(id: string): void {
    if (this.#records.delete(id)) this.#write();
  }

  /** The records as they are now. */
  records(): InstanceRecord[] {
    return [...this.#records.values()];
  }

  /** Write the records again (a no-op without the lock); a write that failed earlier is retried here. */
  async flush(): Promise<void> {
    this.#write();
  }

  /**
   * Write every record to a temporary file renamed over the state file. Only the holder of the lock
   * writes: a daemon that failed to take the run_dir must never overwrite the holder's records.
   * A failure is reported and the daemon goes on; the next change writes again.
   */
  #write(): void {
    if (!this.#locked || this.#detached) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true });
      const doc: StateDoc = { daemon: { pid: process.pid, proc_start: procStartTime(process.pid) }, instances: this.records() };
      writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
      renameSync(tmp, this.path);
      this.#onChange(doc.instances);
    } catch (err) {
      this.#onError(new GvError('GV_ERR_STATE_FILE', `cannot write ${this.path}: ${(err as Error).message}`, { cause: err }));
    }
  }
}

/**
 * Stop one recorded process group: SIGTERM, up to `graceMs`, then SIGKILL. A pid that now belongs
 * to another process (its start time differs) is left alone: `gone`.
 */
async function stopLeftover(rec: InstanceRecord, graceMs: number): Promise<RecoveredInstance> {
  if (!isSameProcess(rec.pid, rec.proc_start)) return { ...rec, outcome: 'gone' };
  killGroup(rec.pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && groupAlive(rec.pgid)) await sleep(20);
  if (!groupAlive(rec.pgid)) return { ...rec, outcome: 'stopped' };
  killGroup(rec.pgid, 'SIGKILL');
  while (groupAlive(rec.pgid) && Date.now() < deadline + 2000) await sleep(10);
  return { ...rec, outcome: 'killed' };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
