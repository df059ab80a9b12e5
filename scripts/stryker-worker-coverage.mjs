// Loaded into each test process of a mutation run (stryker.config.mjs, tap.nodeArgs), and from there
// into the worker threads it starts: it carries a worker's mutant coverage home to the test process.
//
// The config is read in a worker thread (src/config/bounded-read.ts). Stryker's tap hook collects
// coverage in the test process's globals only, so without this every mutant that runs in the worker
// is "not covered" and never tested. Here a worker saves its coverage before each message it posts
// (the reader posts one, its answer, and is then terminated), and the test process, when it exits,
// adds what its workers saved to the coverage the hook has just written (stryker-output-<pid>.json).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, threadId } from 'node:worker_threads';

const ns = process.env.STRYKER_NAMESPACE ?? '__stryker__';
const dryRun = process.env.STRYKER_DRY_RUN === 'true';
const dir = join(tmpdir(), `gv-stryker-coverage-${process.pid}`);

if (dryRun && !isMainThread && parentPort) {
  const post = parentPort.postMessage.bind(parentPort);
  let n = 0;
  parentPort.postMessage = (...args) => {
    const coverage = globalThis[ns]?.mutantCoverage;
    if (coverage) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${threadId}-${n++}.json`), JSON.stringify(coverage));
    }
    return post(...args);
  };
} else if (dryRun && isMainThread) {
  // Registered after the hook's own exit handler (it is loaded first, with -r), so this runs after it.
  process.on('exit', () => {
    let saved;
    try {
      saved = readdirSync(dir);
    } catch {
      return; // no worker saved anything
    }
    const out = `stryker-output-${process.pid}.json`;
    const result = JSON.parse(readFileSync(out, 'utf8'));
    result.mutantCoverage ??= { static: {}, perTest: {} };
    const into = result.mutantCoverage.static;
    for (const name of saved) {
      const c = JSON.parse(readFileSync(join(dir, name), 'utf8'));
      for (const counts of [c.static ?? {}, ...Object.values(c.perTest ?? {})]) {
        for (const [id, hits] of Object.entries(counts)) into[id] = (into[id] ?? 0) + hits;
      }
    }
    writeFileSync(out, JSON.stringify(result));
    rmSync(dir, { recursive: true, force: true });
  });
}
