// The test suite's own port ranges (test/helpers/ports.ts): claimed with lock files, so that test
// files running side by side never share one (a daemon's readiness probe would reach the other's app).
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { REPO } from '../helpers/config.js';
import { claimPortRange, LOCK_DIR, lockPath, lockSlot, releaseSlot, slotOf } from '../helpers/ports.js';
import { killOnTeardown } from '../helpers/processes.js';
import { within } from '../helpers/wait.js';

t.beforeEach((t) => t.setTimeout(60_000));

const overlap = (a: { from: number; to: number }, b: { from: number; to: number }): boolean => a.from <= b.to && b.from <= a.to;

t.test('ranges claimed by two processes at once never overlap, and are released when the claimant ends', async (t) => {
  // The other process claims 15 ranges and holds them until its stdin closes.
  const src = [
    "import { claimPortRange } from './test/helpers/ports.ts';",
    'const got = Array.from({ length: 15 }, () => claimPortRange(40));',
    'console.log(JSON.stringify(got.map(({ from, to }) => ({ from, to }))));',
    "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();",
  ].join('\n');
  const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', '--input-type=module', '-e', src], { cwd: REPO, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' }, stdio: ['pipe', 'pipe', 'inherit'] });
  killOnTeardown(t, child.pid!);
  const mine = Array.from({ length: 15 }, () => claimPortRange(40, t));
  const line = await within(new Promise<string>((r) => createInterface({ input: child.stdout! }).once('line', r)), 30_000, 'the other process\'s ranges');
  const theirs = JSON.parse(line) as { from: number; to: number }[];
  const all = [...mine, ...theirs];
  const clashes = all.flatMap((a, i) => all.slice(i + 1).filter((b) => overlap(a, b)).map((b) => `${a.from}-${a.to} / ${b.from}-${b.to}`));
  t.same(clashes, [], '30 ranges, no two overlap');
  t.ok(all.every((r) => r.from >= 12000 && r.to < 32000), 'all below the ephemeral range');
  child.stdin!.end();
  await within(once(child, 'exit'), 10_000, 'the other process exit');
  for (const r of theirs) {
    const slot = slotOf(r.from);
    t.equal(lockSlot(slot), true, `slot ${slot} is free again once its claimant has gone`);
    releaseSlot(slot);
  }
});

t.test('a lock whose holder is dead is stale and taken over; a live holder\'s is not', async (t) => {
  mkdirSync(LOCK_DIR, { recursive: true });
  // A process that is gone: start it, note its start time, let it end.
  const gone = spawn(process.execPath, ['-e', '0']);
  const pid = gone.pid!;
  await once(gone, 'exit');
  // A slot number beyond the claimed range (0–499): no real claim can hold it meanwhile.
  const slot = 10_000;
  releaseSlot(slot);
  writeFileSync(lockPath(slot), JSON.stringify({ pid, start: '1' }));
  t.equal(lockSlot(slot), true, 'a dead holder\'s lock is taken over');
  t.same(JSON.parse(readFileSync(lockPath(slot), 'utf8')).pid, process.pid, 'and now names this process');
  t.equal(lockSlot(slot), false, 'a slot is never handed out twice, not even to its holder');
  releaseSlot(slot);
  // A live holder (the parent of this process: tap's runner), with its real start time.
  const holder = JSON.stringify({ pid: process.ppid, start: null });
  writeFileSync(lockPath(slot), holder);
  t.equal(lockSlot(slot), false, 'a live holder keeps its slot');
  t.equal(readFileSync(lockPath(slot), 'utf8'), holder, 'its lock is untouched');
  releaseSlot(slot);
  const { unlinkSync } = await import('node:fs');
  unlinkSync(lockPath(slot));
});
