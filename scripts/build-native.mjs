#!/usr/bin/env node
// Builds the optional splice addon. Never fails the install: where it cannot be built, the reason is
// written to native/build/UNAVAILABLE and the splice engine reports itself unavailable with it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const reasonFile = join(native, 'build', 'UNAVAILABLE');

function unavailable(reason) {
  mkdirSync(join(native, 'build'), { recursive: true });
  writeFileSync(reasonFile, reason + '\n');
  console.warn(`gracevisor: splice engine unavailable: ${reason}`);
}

if (!existsSync(join(native, 'binding.gyp'))) process.exit(0);
if (process.platform !== 'linux') {
  unavailable(`splice(2) is Linux-only; this is ${process.platform}`);
  process.exit(0);
}
rmSync(reasonFile, { force: true });
const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const args = [gyp, 'rebuild'];
if (existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const r = spawnSync(process.execPath, args, { cwd: native, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const tail = (r.stderr || r.error?.message || 'node-gyp failed').trim().split('\n').slice(-3).join(' ');
  unavailable(`native addon did not build: ${tail}`);
}
process.exit(0);
