#!/usr/bin/env node
// `npm run mutate [-- [--sample N] [--seed S] [folder ...]]`: mutation testing of src/config,
// src/supervisor, src/engines and src/control, one Stryker run per folder (stryker.config.mjs), each
// judged by that folder's own tests (scripts/mutate-folders.mjs). Ends with the score per folder,
// also written to reports/mutation/summary.md.
//
// A full run makes every mutant of the four folders (about 8,500) and takes many hours on two cores:
// each mutant reruns the real-process tests that cover it. `--sample N` makes a seeded random sample
// of N mutants per folder instead (plus any nested inside a drawn one's span). Only mutants within one
// line are drawn: the ones that span lines (a removed block, an emptied multi-line object literal)
// are the easiest to kill, so a sampled score is, if anything, lower than the full one. The same seed
// draws the same mutants from the same source.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Instrumenter } from '@stryker-mutator/instrumenter';
import fg from 'fast-glob';
import { FOLDERS } from './mutate-folders.mjs';

const args = process.argv.slice(2);
let sample = 0;
let seed = 1;
const folders = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--sample') sample = Number(args[++i]);
  else if (args[i] === '--seed') seed = Number(args[++i]);
  else if (FOLDERS[args[i]]) folders.push(args[i]);
  else {
    console.error(`mutate: unknown argument "${args[i]}" (folders: ${Object.keys(FOLDERS).join(', ')}; options: --sample N, --seed S)`);
    process.exit(2);
  }
}
if (!Number.isInteger(sample) || sample < 0 || !Number.isInteger(seed)) {
  console.error('mutate: --sample and --seed take whole numbers');
  process.exit(2);
}
if (folders.length === 0) folders.push(...Object.keys(FOLDERS));

/** mulberry32: a small seeded generator, so a sample can be drawn again. */
function random(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const quiet = new Proxy({}, { get: (_, name) => (String(name).startsWith('is') ? () => false : () => {}) });

/**
 * Stryker `mutate` entries for a seeded random sample of `n` of the folder's single-line mutants, each
 * entry the exact span of one drawn mutant (a mutant nested inside that span, like `a === b` inside a
 * replaced condition, is made too).
 */
async function sampleRanges(scope, n, s) {
  const files = fg.sync(scope.mutate.filter((g) => !g.startsWith('!')), { ignore: scope.mutate.filter((g) => g.startsWith('!')).map((g) => g.slice(1)) }).sort();
  const input = files.map((name) => ({ name, content: readFileSync(name, 'utf8'), mutate: true }));
  const { mutants } = await new Instrumenter(quiet).instrument(input, { plugins: null, excludedMutations: [], ignorers: [], noHeader: true });
  // Stryker's locations count lines from 0 and columns from 0; a `mutate` range counts lines from 1.
  const spans = [...new Set(mutants.filter((m) => m.location.start.line === m.location.end.line).map((m) => {
    const { start, end } = m.location;
    return `${m.fileName}:${start.line + 1}:${start.column}-${end.line + 1}:${end.column}`;
  }))].sort();
  const next = random(s);
  for (let i = spans.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [spans[i], spans[j]] = [spans[j], spans[i]];
  }
  return spans.slice(0, n);
}

function score(folder) {
  const report = JSON.parse(readFileSync(`reports/mutation/${folder}/mutation.json`, 'utf8'));
  const counts = {};
  for (const file of Object.values(report.files)) {
    for (const m of file.mutants) counts[m.status] = (counts[m.status] ?? 0) + 1;
  }
  const detected = (counts.Killed ?? 0) + (counts.Timeout ?? 0);
  const undetected = (counts.Survived ?? 0) + (counts.NoCoverage ?? 0);
  const valid = detected + undetected;
  return { folder, counts, detected, undetected, valid, score: valid ? (100 * detected) / valid : NaN };
}

const results = [];
for (const folder of folders) {
  const env = { ...process.env, GV_MUTATE_FOLDER: folder };
  if (sample > 0) {
    const ranges = await sampleRanges(FOLDERS[folder], sample, seed);
    mkdirSync(`reports/mutation/${folder}`, { recursive: true });
    writeFileSync(`reports/mutation/${folder}/sample.json`, JSON.stringify(ranges, null, 2));
    env.GV_MUTATE_RANGES = `reports/mutation/${folder}/sample.json`;
  }
  console.log(`\n# mutate: ${folder}${sample > 0 ? ` (a sample of about ${sample} mutants, seed ${seed})` : ''}`);
  const run = spawnSync(process.execPath, ['node_modules/@stryker-mutator/core/bin/stryker.js', 'run', 'stryker.config.mjs'], { stdio: 'inherit', env });
  if (run.status !== 0) {
    console.error(`mutate: the Stryker run for ${folder} failed (exit ${run.status ?? run.signal})`);
    process.exit(1);
  }
  results.push(score(folder));
}

const table = [
  `Mutation score per folder${sample > 0 ? ` (sampled: about ${sample} mutants per folder, seed ${seed})` : ''}:`,
  '',
  '| folder | mutants | killed or timed out | survived or not covered | score |',
  '|---|---:|---:|---:|---:|',
  ...results.map((r) => `| src/${r.folder} | ${r.valid} | ${r.detected} | ${r.undetected} | ${r.score.toFixed(1)}% |`),
];
console.log('\n' + table.join('\n'));
writeFileSync('reports/mutation/summary.md', table.join('\n') + '\n');
