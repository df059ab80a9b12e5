/** The order config problems are reported in: reading order, so the first one printed is the first one met. */
import type { GvError, SourcePosition } from '../errors.js';

/**
 * Problems in reading order: the main file first, then the others by path; within a file by line
 * and column. Problems without a position come first, as they are about the whole load.
 */
export function sortErrors(errors: readonly GvError[], mainFile: string): GvError[] {
  const rank = (p: SourcePosition | undefined): [number, string, number, number] => (p ? [p.file === mainFile ? 1 : 2, p.file, p.line, p.col] : [0, '', 0, 0]);
  return errors
    .map((e, i) => ({ e, i, k: rank(e.pos) }))
    .sort((a, b) => a.k[0] - b.k[0] || (a.k[1] < b.k[1] ? -1 : a.k[1] > b.k[1] ? 1 : 0) || a.k[2] - b.k[2] || a.k[3] - b.k[3] || a.i - b.i)
    .map((x) => x.e);
}
