/**
 * Free ports for tests: one from the kernel (port 0), or a block of consecutive ports for a config's
 * `port_range`, below the kernel's ephemeral range. Blocks are claimed, not guessed: the range
 * 12000–31999 is cut into slots of {@link SLOT} ports, and a slot is taken with an exclusive lock file
 * (O_EXCL, holding the claimant's pid and start time) in {@link LOCK_DIR}, shared by every test process
 * on the machine. Two test files running side by side can therefore never be handed overlapping
 * ranges (one daemon's readiness probe would connect to the other's instance). A lock whose holder is
 * dead (or whose pid now belongs to another process) is stale and may be taken over. Locks are
 * released when the test that claimed them ends (`t` given) and when the process exits.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { procStart } from './leftovers.mjs';
import { onProcessExit } from './registry.js';
import type { Teardownable } from './tmp.js';

/** Ports per slot. */
export const SLOT = 40;
const FIRST = 12_000;
const SLOTS = Math.floor((32_000 - FIRST) / SLOT);
/** Where the slot locks live (one folder for every test run on this machine). */
export const LOCK_DIR = join(tmpdir(), 'gv-test-ports');

const MINE = JSON.stringify({ pid: process.pid, start: procStart(process.pid) });
/** Slots this process holds. */
const held = new Set<number>();

/** The lock file of `slot`. */
export const lockPath = (slot: number): string => join(LOCK_DIR, `slot-${slot}.lock`);
/** The slot a port range starting at `from` is. */
export const slotOf = (from: number): number => Math.floor((from - FIRST) / SLOT);

/** True when the lock at `path` names a process that is no longer the one that wrote it. */
function stale(path: string): boolean {
  let holder: { pid?: number; start?: string | null };
  try {
    holder = JSON.parse(readFileSync(path, 'utf8')) as typeof holder;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // gone meanwhile: free, not stale
    // Unreadable: being written this very moment (then it is young), or left half-written by a
    // holder that died writing it.
    try {
      return Date.now() - statSync(path).mtimeMs > 5_000;
    } catch {
      return false;
    }
  }
  if (typeof holder.pid !== 'number') return true;
  const now = procStart(holder.pid);
  return now === null || (holder.start != null && now !== holder.start);
}

function create(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o644);
    writeSync(fd, MINE);
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Take `slot`'s lock, taking over a stale one; false when a live process (this one included) holds it. Exported for its own test. */
export function lockSlot(slot: number): boolean {
  if (held.has(slot)) return false;
  const path = lockPath(slot);
  if (create(path)) {
    held.add(slot);
    return true;
  }
  if (!stale(path)) return false;
  // Two processes may find the same stale lock: the takeover itself is serialised by a second
  // exclusive file, and the lock is checked again under it, so only one of them removes it.
  const takeover = `${path}.takeover`;
  if (!create(takeover)) {
    if (stale(takeover)) unlinkQuiet(takeover);
    return false;
  }
  try {
    if (!stale(path)) return false;
    unlinkQuiet(path);
    if (!create(path)) return false;
    held.add(slot);
    return true;
  } finally {
    unlinkQuiet(takeover);
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Give `slot` back (only when this process holds it). Exported for its own test. */
export function releaseSlot(slot: number): void {
  if (!held.delete(slot)) return;
  const path = lockPath(slot);
  try {
    if (readFileSync(path, 'utf8') === MINE) unlinkSync(path);
  } catch {
    // gone, or taken over after we were thought dead: not ours to remove
  }
}

onProcessExit(() => {
  for (const slot of [...held]) releaseSlot(slot);
});

/** A claimed block of ports; `release()` gives it back (also done at teardown and at exit). */
export interface PortRange {
  from: number;
  to: number;
  release(): void;
}

/**
 * Claim `size` consecutive ports (whole slots, so at most {@link SLOT} × n) that no other test process
 * holds. Synchronous: the ports are not checked for being bound by something outside the tests (see
 * {@link freePortRange}). Released in `t`'s teardown when given, else when the process exits.
 */
export function claimPortRange(size: number, t: Teardownable | null = null): PortRange {
  mkdirSync(LOCK_DIR, { recursive: true });
  const need = Math.max(1, Math.ceil(size / SLOT));
  const offset = Math.floor(Math.random() * SLOTS);
  for (let i = 0; i < SLOTS; i++) {
    const first = (offset + i) % SLOTS;
    if (first + need > SLOTS) continue;
    const got: number[] = [];
    for (let s = first; s < first + need && lockSlot(s); s++) got.push(s);
    if (got.length === need) {
      const from = FIRST + first * SLOT;
      const range: PortRange = { from, to: from + size - 1, release: () => got.forEach(releaseSlot) };
      t?.teardown(() => range.release());
      return range;
    }
    got.forEach(releaseSlot);
  }
  throw new Error(`no ${need} free port slot(s) of ${SLOT} ports: every slot in ${LOCK_DIR} is held by a live test process`);
}

/** A port the kernel says is free right now on 127.0.0.1. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** True when host:port binds now. */
export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * `size` consecutive ports claimed for this process ({@link claimPortRange}) and all free now, between
 * 12000 and 32000 (below Linux's ephemeral range).
 */
export async function freePortRange(size: number, host = '127.0.0.1', t: Teardownable | null = null): Promise<{ from: number; to: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const range = claimPortRange(size, t);
    let ok = true;
    for (let p = range.from; p <= range.to && ok; p++) ok = await portFree(p, host);
    if (ok) return { from: range.from, to: range.to };
    // Something outside the tests holds one of them: keep the slot locked (so nobody else tries it)
    // until this process ends, and claim another.
  }
  throw new Error(`no block of ${size} free ports found`);
}
