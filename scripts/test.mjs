#!/usr/bin/env node
// Runs the tap suite and ends with one plain line, `N passed, N failed`, which no tap reporter prints.
// The TAP stream is passed through unchanged; the count is of the named tests (a file's subtests),
// and a test file that fails outside any subtest counts as one failure of its own.
//
// Then the leftover check: every test records the processes, process groups and run_dirs it starts
// in this run's registry folder (test/helpers/leftovers.mjs; the folder is named in GV_TEST_REGISTRY).
// After tap has finished, anything the registry names that is still alive is listed, killed, and
// counted as one failed test.
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REGISTRY_ENV, sweep } from '../test/helpers/leftovers.mjs';

const runId = process.env.GV_TEST_RUN_ID || `${Date.now()}-${process.pid}`;
const registry = join(tmpdir(), 'gv-test-registry', runId);

const tap = spawn(process.execPath, ['node_modules/tap/dist/esm/run.mjs', '--reporter=tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0', GV_TEST_RUN_ID: runId, [REGISTRY_ENV]: registry },
});

let passed = 0;
let failed = 0;
let fileFailures = 0; // failures seen inside the current file
const lines = createInterface({ input: tap.stdout });
lines.on('line', (line) => {
  process.stdout.write(line + '\n');
  const sub = /^ {4}(not )?ok \d+ /.exec(line);
  if (sub) {
    if (sub[1]) { failed++; fileFailures++; } else passed++;
    return;
  }
  const top = /^(not )?ok \d+ /.exec(line);
  if (top) {
    if (top[1] && fileFailures === 0) failed++;
    fileFailures = 0;
  }
});

tap.on('close', (code, signal) => {
  lines.close();
  if (code !== 0 && failed === 0) failed = 1; // tap failed for a reason outside the tests (coverage, crash)
  const { leftovers, exitKills } = sweep(registry);
  for (const k of exitKills) {
    process.stdout.write(`# killed when its test process exited: pid ${k.pid} (${k.label}, from ${k.ownerFile ?? `pid ${k.owner}`}): ${k.cmd}\n`);
  }
  if (leftovers.length > 0) {
    process.stdout.write(`not ok - no process started by the suite is left running # ${leftovers.length} left, now killed\n`);
    for (const l of leftovers) {
      process.stdout.write(`#   pid ${l.pid}${l.pgid ? ` (group ${l.pgid})` : ''}: ${l.label}, started by ${l.ownerFile ?? `pid ${l.owner}`}: ${l.cmd}\n`);
    }
    failed++;
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(leftovers.length > 0 ? 1 : (code ?? (signal ? 1 : 0)));
});
