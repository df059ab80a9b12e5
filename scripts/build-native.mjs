#!/usr/bin/env node
// Builds the optional native addons: gracevisor_splice (engines.splice) and gracevisor_http (the
// native data plane of engines.http). Never fails the install: each target is built on its own, and
// where one cannot be built the reason is written next to it (native/build/UNAVAILABLE for splice,
// native/build/UNAVAILABLE.http for http); the splice engine then reports itself unavailable with
// it, and engines.http serves with its JavaScript implementation and says why in `plugins list`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const build = join(native, 'build');

/** Each target, the file its reason goes to, and what a missing one costs. */
const TARGETS = [
  { name: 'gracevisor_splice', note: join(build, 'UNAVAILABLE'), what: 'splice engine unavailable' },
  { name: 'gracevisor_http', note: join(build, 'UNAVAILABLE.http'), what: 'native http data plane unavailable (engines.http uses its JavaScript implementation)' },
];

function unavailable(target, reason) {
  mkdirSync(build, { recursive: true });
  writeFileSync(target.note, reason + '\n');
  console.warn(`gracevisor: ${target.what}: ${reason}`);
}

function all(reason) {
  for (const t of TARGETS) unavailable(t, reason);
  process.exit(0);
}

/** The compiler's complaint out of node-gyp's or make's stderr (their last lines are their own summary). */
function firstError(stderr, fallback) {
  const lines = (stderr || fallback).trim().split('\n');
  const first = lines.find((l) => /error|not found|No such file/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l));
  return (first ?? lines.slice(-3).join(' ')).replace(/\s+/g, ' ').trim().slice(0, 400);
}

if (!existsSync(join(native, 'binding.gyp'))) process.exit(0);
if (process.platform !== 'linux') all(`the native addons use splice(2) and epoll, Linux-only; this is ${process.platform}`);
for (const t of TARGETS) rmSync(t.note, { force: true });
// The devDependency first; under `npm ci --omit=dev` npm's own bundled node-gyp, which npm points to
// in lifecycle scripts.
const candidates = [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), process.env.npm_config_node_gyp].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
if (!gyp) all('node-gyp is not installed (npm install --include=dev, then npm run build:native)');

const nodedir = existsSync('/usr/include/node/node_api.h') ? ['--nodedir=/usr'] : [];
rmSync(join(build, 'Release'), { recursive: true, force: true });
const conf = spawnSync(process.execPath, [gyp, 'configure', ...nodedir], { cwd: native, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (conf.status !== 0) all(`native addon did not build: ${firstError(conf.stderr, conf.error?.message ?? 'node-gyp configure failed')}`);
// One make run per target, so that a target that does not compile leaves the other one built.
for (const t of TARGETS) {
  const r = spawnSync('make', ['-C', build, 'BUILDTYPE=Release', t.name], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) unavailable(t, `native addon did not build: ${firstError(r.stderr, r.error?.message ?? 'make failed')}`);
  else if (!existsSync(join(build, 'Release', `${t.name}.node`))) unavailable(t, `native addon did not build: make succeeded but produced no ${t.name}.node`);
}
process.exit(0);
