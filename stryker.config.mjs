// Mutation testing (`npm run mutate`, see scripts/mutate.mjs): one folder of src/ per run, mutated
// and tested by that folder's own tests. GV_MUTATE_FOLDER names the folder; scripts/mutate.mjs sets it.
// The tests run as plain node processes (the tap runner does not use tap's own loader), TypeScript
// through tsx; mutants that do not type-check are discarded by the TypeScript checker before any test
// runs. Static mutants (code that runs once, at import) are left out: each one would need every test
// file of the folder rerun, and they are constants and registrations, not behaviour.
import { readFileSync } from 'node:fs';
import { FOLDERS } from './scripts/mutate-folders.mjs';

const folder = process.env.GV_MUTATE_FOLDER ?? 'config';
const scope = FOLDERS[folder];
if (!scope) throw new Error(`GV_MUTATE_FOLDER: unknown folder "${folder}" (one of: ${Object.keys(FOLDERS).join(', ')})`);

export default {
  testRunner: 'tap',
  tap: { testFiles: scope.tests, nodeArgs: ['--import', 'tsx'], forceBail: true },
  // GV_MUTATE_RANGES: a JSON list of `file:line:col-line:col` spans, a sample drawn by scripts/mutate.mjs.
  mutate: process.env.GV_MUTATE_RANGES ? JSON.parse(readFileSync(process.env.GV_MUTATE_RANGES, 'utf8')) : scope.mutate,
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  ignoreStatic: true,
  incremental: true,
  incrementalFile: `reports/mutation/${folder}/incremental.json`,
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: `reports/mutation/${folder}/mutation.json` },
  htmlReporter: { fileName: `reports/mutation/${folder}/index.html` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: false },
  concurrency: Number(process.env.GV_MUTATE_CONCURRENCY ?? 1),
  timeoutMS: 10000,
  timeoutFactor: 2,
  tempDirName: `.stryker-tmp/${folder}`,
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: null },
};
