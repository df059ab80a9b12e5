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
// The devDependency first; under `npm ci --omit=dev` npm's own bundled node-gyp, which npm points to
// in lifecycle scripts.
const candidates = [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), process.env.npm_config_node_gyp].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
if (!gyp) {
  unavailable('node-gyp is not installed (npm install --include=dev, then npm run build:native)');
  process.exit(0);
}
const args = [gyp, 'rebuild'];
if (existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const r = spawnSync(process.execPath, args, { cwd: native, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  // node-gyp's last lines are its own summary; the compiler's complaint is the first error line.
  const lines = (r.stderr || r.error?.message || 'node-gyp failed').trim().split('\n');
  const first = lines.find((l) => /error|not found|No such file/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l));
  const why = (first ?? lines.slice(-3).join(' ')).replace(/\s+/g, ' ').trim().slice(0, 400);
  unavailable(`native addon did not build: ${why}`);
} else if (!existsSync(join(native, 'build', 'Release', 'gracevisor_splice.node'))) {
  unavailable('native addon did not build: node-gyp succeeded but produced no gracevisor_splice.node');
}
process.exit(0);
