#!/usr/bin/env node
// Builds the dashboard's front end (web/) into dist/web/: one JavaScript bundle (Preact, htm,
// uPlot and the pages) and one stylesheet, minified by esbuild, plus index.html, the icon and the
// licences of the bundled libraries. No network, no CDN: `npm run build` (and so `npm ci`) runs it;
// src/control/web/ serves the result. Fails when the total passes the size budget.
//   node scripts/build-web.mjs
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'web');
/** The whole front end, uncompressed, at most (the issue allows "a few hundred KB"). */
const BUDGET = 300 * 1024;
/** Bundled packages whose licence texts go along with the bundle. */
const LICENSED = ['preact', 'htm', 'uplot'];

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
await build({
  absWorkingDir: ROOT,
  entryPoints: { app: 'web/src/main.js' },
  outdir: OUT,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'favicon.svg']) copyFileSync(join(ROOT, 'web', f), join(OUT, f));
writeFileSync(
  join(OUT, 'licenses.txt'),
  LICENSED.map((p) => {
    const dir = join(ROOT, 'node_modules', p);
    const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    return `${p} ${version}\n\n${file ? readFileSync(join(dir, file), 'utf8').trim() : 'MIT'}\n`;
  }).join('\n----\n\n'),
);

const sizes = readdirSync(OUT).map((f) => [f, statSync(join(OUT, f)).size]);
const total = sizes.reduce((n, [, s]) => n + s, 0);
console.log(`dist/web: ${sizes.map(([f, s]) => `${f} ${(s / 1024).toFixed(1)} KB`).join(', ')}; ${(total / 1024).toFixed(1)} KB in all`);
if (total > BUDGET) {
  console.error(`build-web: the front end is ${(total / 1024).toFixed(1)} KB, over its budget of ${BUDGET / 1024} KB`);
  process.exit(1);
}
