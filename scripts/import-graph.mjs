#!/usr/bin/env node
// The import graph of src/, as TypeScript sees it (static imports, `import type`, re-exports and
// dynamic `import('…')` of relative paths), and the layer rules of docs/architecture.md over it.
// test/architecture/layers.test.ts asserts the rules; run this file to print the folder graph:
//   node scripts/import-graph.mjs [src-dir]
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layers, lowest first. A file may import files of its own layer or of a lower one, never of a
 * higher one. `base` files import nothing of src/ at all.
 */
export const LAYERS = [
  { name: 'base', match: (f) => f === 'errors.ts' || f === 'version.ts' },
  { name: 'config', match: (f) => f.startsWith('config/') },
  { name: 'plugins', match: (f) => f.startsWith('plugins/') },
  { name: 'engines', match: (f) => f.startsWith('engines/') },
  { name: 'supervisor', match: (f) => f.startsWith('supervisor/') },
  { name: 'observe', match: (f) => f.startsWith('observe/') },
  { name: 'control', match: (f) => f.startsWith('control/') },
  { name: 'builtins', match: (f) => f === 'builtins.ts' },
  { name: 'cli', match: (f) => f.startsWith('cli/') || f === 'index.ts' || f.startsWith('public/') },
];

/** The layer index of a file (path relative to src/), or -1. */
export function layerOf(file) {
  return LAYERS.findIndex((l) => l.match(file));
}

function sourceFiles(dir, root = dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p, root));
    else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

/** Every file of `srcDir` and the src files it imports: Map<file, Set<file>> (paths relative to srcDir). */
export function importGraph(srcDir) {
  const files = sourceFiles(srcDir);
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(srcDir, file), 'utf8'), true, true);
    const deps = new Set();
    for (const ref of info.importedFiles) {
      const spec = ref.fileName;
      if (!spec.startsWith('.')) continue;
      let target = relative(srcDir, resolve(srcDir, dirname(file), spec));
      if (target.endsWith('.js') && !known.has(target)) target = target.replace(/\.js$/, '.ts');
      if (known.has(target)) deps.add(target);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Imports that run from a lower layer to a higher one: [from, to] pairs. */
export function upwardImports(graph) {
  const bad = [];
  for (const [from, deps] of graph) {
    const lf = layerOf(from);
    for (const to of deps) {
      const lt = layerOf(to);
      if (lf === -1 || lt === -1 || lt > lf || (LAYERS[lf].name === 'base' && from !== to)) bad.push([from, to]);
    }
  }
  return bad;
}

/** Every import cycle (strongly connected component of more than one file, or a self-import), as lists of files. */
export function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v), idx.get(w)));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || graph.get(v)?.has(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** The folder graph: Map<folder, Set<folder>> where a folder is the first path segment (or the file at the top). */
export function folderGraph(graph) {
  const folder = (f) => (f.includes('/') ? f.slice(0, f.indexOf('/')) : f.replace(/\.ts$/, ''));
  const out = new Map();
  for (const [from, deps] of graph) {
    const a = folder(from);
    if (!out.has(a)) out.set(a, new Set());
    for (const to of deps) if (folder(to) !== a) out.get(a).add(folder(to));
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src'));
  const graph = importGraph(src);
  for (const [a, deps] of [...folderGraph(graph)].sort()) console.log(`${a} -> ${[...deps].sort().join(', ') || '(nothing)'}`);
  const up = upwardImports(graph);
  const cyc = cycles(graph);
  if (up.length) console.log(`\nupward imports:\n${up.map(([a, b]) => `  ${a} -> ${b}`).join('\n')}`);
  if (cyc.length) console.log(`\ncycles:\n${cyc.map((c) => `  ${c.join(' <-> ')}`).join('\n')}`);
  if (!up.length && !cyc.length) console.log('\nno upward import, no cycle');
}
