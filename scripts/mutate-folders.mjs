// What `npm run mutate` mutates, folder by folder, and which tests judge each folder's mutants: the
// tests that exercise the folder in-process. The CLI tests run the built daemon from dist/, which is
// not mutated, so they cannot kill a mutant and are left out.
// Coverage is per test file: a mutant runs against the test files that reach its code.
export const FOLDERS = {
  config: {
    mutate: ['src/config/**/*.ts', '!src/config/generated/**'],
    tests: ['test/config/*.test.ts'],
  },
  supervisor: {
    mutate: ['src/supervisor/**/*.ts'],
    // recovery.test.ts restarts the built daemon (a SIGKILLed daemon's successor): nothing it runs is
    // mutated. leaks.test.ts is a soak (300 restarts), too long to rerun for each mutant.
    tests: ['test/supervisor/!(recovery|leaks).test.ts'],
  },
  engines: {
    mutate: ['src/engines/**/*.ts'],
    // The 1 GB transfers of http-bulk*.test.ts are too long to rerun for each mutant.
    tests: ['test/engines/!(http-bulk*).test.ts'],
  },
  control: {
    mutate: ['src/control/**/*.ts'],
    // The dashboard's in-process server tests; its browser and gracevisord tests run the built daemon.
    tests: ['test/control/*.test.ts', 'test/control/web/server.test.ts'],
  },
};
