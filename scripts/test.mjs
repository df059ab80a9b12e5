#!/usr/bin/env node
// Runs the tap suite and ends with one plain line, `N passed, N failed`, which no tap reporter prints.
// The TAP stream is passed through unchanged; the count is of the named tests (a file's subtests),
// and a test file that fails outside any subtest counts as one failure of its own.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const tap = spawn(process.execPath, ['node_modules/tap/dist/esm/run.mjs', '--reporter=tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0' },
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
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(code ?? (signal ? 1 : 0));
});
