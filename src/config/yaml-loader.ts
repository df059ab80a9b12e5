/**
 * The YAML loader: gracevisor.yaml (the original format) text to the raw tree of ./raw.ts.
 * Parsing is the `yaml` package's; this file only walks its node tree and records positions.
 *
 * An alias is expanded where it is used, so nested aliases could multiply a small text into an
 * enormous tree ("billion laughs"); the walk is bounded by {@link MAX_YAML_NODES} values in all and
 * refuses an alias that refers to a node containing it. Deep nesting is refused by `yaml` itself.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { GvError, type SourcePosition } from '../errors.js';
import type { LoadResult, RawEntry, RawValue } from './raw.js';

/**
 * Parse YAML text from `file` into a raw value. Syntax errors are GV_ERR_CONFIG_SYNTAX and repeated
 * keys GV_ERR_CONFIG_DUPLICATE_KEY, each at the line and column yaml reports. An empty document is
 * an empty mapping (every key of the format is optional).
 */
/** The most values one YAML file may expand to, aliases included (a 10 000-app config has about 300 000). */
export const MAX_YAML_NODES = 2_000_000;

/** The walk's bound and the aliases being expanded (to see one that contains itself). */
interface Walk {
  doc: Document;
  at: (offset: number) => SourcePosition;
  errors: GvError[];
  nodes: number;
  expanding: Set<Node>;
}

/** Thrown out of the walk when a bound is hit; the loader turns it into one error. */
class WalkStop {
  constructor(readonly error: GvError) {}
}

export function loadYaml(text: string, file: string): LoadResult<RawValue> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, merge: false });
  const at = (offset: number): SourcePosition => {
    const lp = lineCounter.linePos(offset);
    return { file, line: lp.line, col: lp.col };
  };
  const errors: GvError[] = [];
  for (const err of doc.errors) {
    const pos = at(err.pos[0]);
    // yaml's message carries a code frame after the first line; the position is printed separately.
    const message = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    if (err.code === 'DUPLICATE_KEY') errors.push(new GvError('GV_ERR_CONFIG_DUPLICATE_KEY', message, { pos }));
    else if (err.code === 'RESOURCE_EXHAUSTION') errors.push(new GvError('GV_ERR_CONFIG_LIMIT', `${message} (nesting too deep)`, { pos, details: { limit: 'depth', yamlCode: err.code } }));
    else errors.push(new GvError('GV_ERR_CONFIG_SYNTAX', message, { pos, details: { yamlCode: err.code } }));
  }
  if (errors.length > 0) return { value: null, errors };
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    return { value: { kind: 'map', entries: [], pos: { file, line: 1, col: 1 } }, errors };
  }
  const walk: Walk = { doc, at, errors, nodes: 0, expanding: new Set() };
  try {
    return { value: convert(walk, doc.contents as Node), errors };
  } catch (err) {
    if (err instanceof WalkStop) return { value: null, errors: [...errors, err.error] };
    throw err;
  }
}

function convert(walk: Walk, node: Node): RawValue {
  const { doc, at, errors } = walk;
  const pos = at(node.range?.[0] ?? 0);
  if (++walk.nodes > MAX_YAML_NODES) {
    throw new WalkStop(new GvError('GV_ERR_CONFIG_LIMIT', `the YAML expands to more than ${MAX_YAML_NODES} values (aliases of aliases?)`, { pos, details: { limit: 'aliases', max: MAX_YAML_NODES } }));
  }
  if (isAlias(node)) {
    const target = node.resolve(doc);
    if (!target) return { kind: 'scalar', value: null, pos };
    if (walk.expanding.has(target)) {
      throw new WalkStop(new GvError('GV_ERR_CONFIG_SYNTAX', `the alias *${node.source} refers to a node that contains it`, { pos, details: { alias: node.source } }));
    }
    walk.expanding.add(target);
    // An alias keeps the position where it is used: that is where the value applies.
    const v = convert(walk, target);
    walk.expanding.delete(target);
    return { ...v, pos };
  }
  if (isMap(node)) {
    const entries: RawEntry[] = [];
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const keyPos = keyNode?.range ? at(keyNode.range[0]) : pos;
      if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === 'object') {
        errors.push(new GvError('GV_ERR_CONFIG_TYPE', 'a key must be a plain string', { pos: keyPos }));
        continue;
      }
      const valueNode = pair.value as Node | null;
      const value: RawValue = valueNode ? convert(walk, valueNode) : { kind: 'scalar', value: null, pos: keyPos };
      entries.push({ key: String(keyNode.value), keyPos, value });
    }
    return { kind: 'map', entries, pos };
  }
  if (isSeq(node)) {
    return { kind: 'list', items: node.items.map((n) => (n ? convert(walk, n as Node) : { kind: 'scalar', value: null, pos })), pos };
  }
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return { kind: 'scalar', value: v, pos };
    if (typeof v === 'bigint') return { kind: 'scalar', value: Number(v), pos };
    return { kind: 'scalar', value: String(v), pos };
  }
  errors.push(new GvError('GV_ERR_CONFIG_TYPE', 'a YAML node gracevisor cannot read', { pos }));
  return { kind: 'scalar', value: null, pos };
}

