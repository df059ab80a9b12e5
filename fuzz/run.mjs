#!/usr/bin/env node
/**
 * Runs the config-loader fuzzers (see README.md).
 *
 *   node fuzz/run.mjs yaml|dsl [--time=SECONDS] [-- extra libFuzzer flags]   fuzz one syntax (default 900 s)
 *   node fuzz/run.mjs replay FILE...                                          run inputs through the harness, no jazzer
 *   node fuzz/run.mjs regression yaml|dsl [DIR]                               jazzer regression mode over a corpus (+ coverage)
 *   node fuzz/run.mjs minimize yaml|dsl                                       merge the corpus into a minimal one in place
 *
 * One fuzzer at a time, niced (nice -n 10), one core. Artifacts (crash-*, timeout-*, oom-*) go to
 * fuzz/artifacts/<syntax>/; the grown corpus stays in fuzz/corpus/<syntax>/.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const fuzzDir = dirname(fileURLToPath(import.meta.url));
const repo = resolve(fuzzDir, '..');
const jazzer = join(repo, 'node_modules/.bin/jazzer');
const [cmd, ...rest] = process.argv.slice(2);
const dashdash = rest.indexOf('--');
const args = dashdash < 0 ? rest : rest.slice(0, dashdash);
const extra = dashdash < 0 ? [] : rest.slice(dashdash + 1);
const opt = (name, dflt) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt;
const TARGETS = { yaml: 'config-yaml.fuzz.mjs', dsl: 'config-dsl.fuzz.mjs' };

const env = {
  ...process.env,
  // The glibc-compat preload (tools/jazzer-glibc-compat.cjs) and a V8 heap cap: a heap blowup aborts
  // the run (libFuzzer records the input) instead of eating the machine.
  NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', `--require=${join(fuzzDir, 'tools/jazzer-glibc-compat.cjs')}`, '--max-old-space-size=1536'].join(' ').trim(),
};

function jazzerArgs(syntax) {
  return [
    join(fuzzDir, TARGETS[syntax]),
    '--sync',
    '--timeout=2000',
    // Instrument what is fuzzed: the compiled config layer and its deps, not the harness.
    '-i', join(repo, 'dist/'),
    '-i', '/node_modules/yaml/',
    '-i', '/node_modules/shell-quote/',
    '-e', join(fuzzDir, '/'),
    '-e', '/node_modules/@jazzer.js/',
    '--disable_bug_detectors=.*',
  ];
}

function run(argv, opts = {}) {
  const nice = ['-n', '10', process.execPath, jazzer, ...argv];
  console.error(`+ nice ${nice.join(' ')}`);
  const r = spawnSync('nice', nice, { stdio: 'inherit', env, cwd: repo, ...opts });
  return r.status ?? 1;
}

if (cmd === 'yaml' || cmd === 'dsl') {
  const corpus = join(fuzzDir, 'corpus', cmd);
  const artifacts = join(fuzzDir, 'artifacts', cmd) + '/';
  mkdirSync(artifacts, { recursive: true });
  process.exitCode = run([...jazzerArgs(cmd), corpus, '--', '-max_len=4096', `-dict=${join(fuzzDir, 'dict', `${cmd}.dict`)}`, `-max_total_time=${opt('time', '900')}`, `-artifact_prefix=${artifacts}`, '-rss_limit_mb=2048', '-print_final_stats=1', ...extra]);
} else if (cmd === 'regression') {
  const syntax = args[0];
  const dir = args[1] ?? join(fuzzDir, 'corpus', syntax);
  process.exitCode = run([...jazzerArgs(syntax), dir, '-m', 'regression', '--coverage', '--coverage_directory', join(fuzzDir, 'artifacts', 'coverage', syntax), '--coverage_reporters', 'text-summary', 'json-summary']);
} else if (cmd === 'minimize') {
  const syntax = args[0];
  const corpus = join(fuzzDir, 'corpus', syntax);
  const fresh = `${corpus}.min`;
  rmSync(fresh, { recursive: true, force: true });
  mkdirSync(fresh);
  const status = run([...jazzerArgs(syntax), fresh, corpus, '--', '-merge=1', '-max_len=4096', '-rss_limit_mb=2048']);
  if (status === 0 && readdirSync(fresh).length > 0) {
    // Keep the seed-* files under their names (libFuzzer names every kept file by its SHA-1).
    const sha1 = (buf) => createHash('sha1').update(buf).digest('hex');
    const seeds = readdirSync(corpus).filter((n) => n.startsWith('seed-'));
    for (const n of seeds) {
      const buf = readFileSync(join(corpus, n));
      rmSync(join(fresh, sha1(buf)), { force: true });
      copyFileSync(join(corpus, n), join(fresh, n));
    }
    rmSync(corpus, { recursive: true });
    renameSync(fresh, corpus);
  }
  process.exitCode = status;
} else if (cmd === 'replay') {
  // Each file through the harness of its syntax (by extension: .conf = DSL, else YAML), outside jazzer.
  let failed = 0;
  for (const file of args) {
    const syntax = /\.conf$/.test(file) ? 'dsl' : 'yaml';
    const { fuzz } = await import(pathToFileURL(join(fuzzDir, TARGETS[syntax])).href);
    try {
      fuzz(readFileSync(file));
      console.log(`ok      ${file}`);
    } catch (err) {
      failed++;
      console.log(`FINDING ${file}\n  ${String(err?.stack ?? err).split('\n').slice(0, 12).join('\n  ')}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
} else {
  console.error('usage: node fuzz/run.mjs yaml|dsl [--time=S] [-- libFuzzer flags] | replay FILE... | regression yaml|dsl [DIR] | minimize yaml|dsl');
  process.exitCode = 2;
}
