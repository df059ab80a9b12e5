// What `npm run mutate` mutates, folder by folder, and which tests judge each folder's mutants: the
// tests that exercise the folder in-process. The CLI tests run the built daemon from dist/, which is
// not mutated, so they cannot kill a mutant and are left out.
//
// `coverage`: Stryker's coverage analysis. Per test file, where it can see what each file runs. The
// config is read and resolved in a worker thread (src/config/bounded-read.ts), whose coverage
// Stryker's hooks in the test process never see: every mutant there would count as not covered. So
// src/config's mutants each run against all of its test files, stopping at the first that fails.
export const FOLDERS = {
  config: {
    mutate: ['src/config/**/*.ts', '!src/config/generated/**'],
    tests: ['test/config/*.test.ts'],
    coverage: 'off',
  },
  supervisor: {
    mutate: ['src/supervisor/**/*.ts'],
    tests: ['test/supervisor/*.test.ts'],
  },
  engines: {
    mutate: ['src/engines/**/*.ts'],
    tests: ['test/engines/*.test.ts'],
  },
  control: {
    mutate: ['src/control/**/*.ts'],
    tests: ['test/control/*.test.ts'],
  },
};
