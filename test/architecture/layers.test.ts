// The layer rules of docs/architecture.md, asserted over the real import graph of src/: nothing
// imports upward (config → plugins → engines → supervisor → observe → control → builtins → cli), and no
// files import each other, directly or through others.
import { join } from 'node:path';
import t from 'tap';
// @ts-expect-error a plain .mjs script without types
import { cycles, folderGraph, importGraph, layerOf, upwardImports } from '../../scripts/import-graph.mjs';

const SRC = join(import.meta.dirname, '..', '..', 'src');

type Graph = Map<string, Set<string>>;

t.test('no file of src/ imports from a higher layer', async (t) => {
  const graph = importGraph(SRC) as Graph;
  t.ok(graph.size > 50, `${graph.size} files read`);
  t.same([...graph.keys()].filter((f) => layerOf(f) === -1), [], 'every file belongs to a layer');
  t.same(upwardImports(graph), [], 'no upward import');
  t.comment([...(folderGraph(graph) as Graph)].map(([a, d]) => `${a} -> ${[...d].sort().join(', ')}`).join('\n'));
});

t.test('no two files of src/ import each other, directly or through others', async (t) => {
  t.same(cycles(importGraph(SRC) as Graph), []);
});

t.test('the checks see an upward import and a cycle when there is one', async (t) => {
  const bad: Graph = new Map([
    ['config/a.ts', new Set(['plugins/b.ts'])],
    ['plugins/b.ts', new Set(['plugins/c.ts'])],
    ['plugins/c.ts', new Set(['plugins/b.ts'])],
    ['supervisor/d.ts', new Set(['engines/e.ts'])],
    ['engines/e.ts', new Set(['supervisor/d.ts'])],
    ['errors.ts', new Set(['config/a.ts'])],
  ]);
  t.same(upwardImports(bad), [['config/a.ts', 'plugins/b.ts'], ['engines/e.ts', 'supervisor/d.ts'], ['errors.ts', 'config/a.ts']]);
  t.same(cycles(bad), [['plugins/b.ts', 'plugins/c.ts'], ['engines/e.ts', 'supervisor/d.ts']]);
});
