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

  /** `onError` hears about writes that failed (the daemon keeps running; the next write retries). */
  constructor(runDir: string, onError: (err: GvError) => void = () => {}) {
    this.#onError = onError;
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
    const mine = JSON.stringify({ pid: process.pid, proc_start: procStartTime(process.pid) });
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
      if (typeof holder.pid === 'number' && holder.pid !== process.pid && isSameProcess(holder.pid, holder.proc_start ?? null)) {
        throw new GvError('GV_ERR_DAEMON_RUNNING', `another gracevisord (pid ${holder.pid}) is running with run_dir ${this.dir}`, {
          details: { pid: holder.pid, runDir: this.dir },
        });
      }
      await unlink(this.lockPath).catch(() => {});
    }
    throw new GvError('GV_ERR_STATE_FILE', `cannot take the lock ${this.lockPath}`);
  }

  /** Release the run directory (the lock file is removed). */
  async unlock(): Promise<void> {
    if (!this.#locked) return;
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
    const out: RecoveredInstance[] = [];
    await Promise.all(leftovers.map(async (rec) => {
      if (!isSameProcess(rec.pid, rec.proc_start)) {
        out.push({ ...rec, outcome: 'gone' });
        return;
      }
      killGroup(rec.pgid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && groupAlive(rec.pgid)) await sleep(20);
      if (groupAlive(rec.pgid)) {
        killGroup(rec.pgid, 'SIGKILL');
        while (groupAlive(rec.pgid) && Date.now() < deadline + 2000) await sleep(10);
        out.push({ ...rec, outcome: 'killed' });
      } else {
        out.push({ ...rec, outcome: 'stopped' });
      }
    }));
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
    if (!this.#locked) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true });
      const doc: StateDoc = { daemon: { pid: process.pid, proc_start: procStartTime(process.pid) }, instances: this.records() };
      writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
      renameSync(tmp, this.path);
    } catch (err) {
      this.#onError(new GvError('GV_ERR_STATE_FILE', `cannot write ${this.path}: ${(err as Error).message}`, { cause: err }));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
