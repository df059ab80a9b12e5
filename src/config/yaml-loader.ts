/**
 * The YAML loader: gracevisor.yaml (the original format) text to the raw tree of ./raw.ts.
 * Parsing is the `yaml` package's; this file only walks its node tree and records positions.
 *
 * An alias is expanded where it is used, so nested aliases could multiply a small text into an
 * enormous tree ("billion laughs"): before anything is expanded, one pass over the document resolves
 * every alias and measures what it expands to, and more than {@link MAX_YAML_NODES} values in all is
 * refused; the walk then refuses an alias that refers to a node containing it. Nesting deeper than {@link MAX_YAML_DEPTH} is
 * refused before `yaml` composes the document: its composer recurses, and when a RegExp is compiled
 * with the stack nearly exhausted V8 aborts the whole process instead of throwing (fuzz/regressions/
 * yaml-deep-flow-abort.yaml) — a worker thread does not contain that. The depth is measured on yaml's
 * concrete syntax tree, which its Parser builds with an explicit stack, walked here with one too.
 */
import { Composer, isAlias, isMap, isScalar, isSeq, LineCounter, Parser, YAMLParseError, type CST, type Document, type Node } from 'yaml';
import { GvError, type SourcePosition } from '../errors.js';
import type { LoadResult, RawEntry, RawValue } from './raw.js';

/** The most values one YAML file may expand to, aliases included (a 10 000-app config has about 300 000). */
export const MAX_YAML_NODES = 2_000_000;

/** What the walk needs: each alias's target (from {@link measureAliases}), and the aliases being expanded (to see one that contains itself). */
interface Walk {
  at: (offset: number) => SourcePosition;
  errors: GvError[];
  targets: ReadonlyMap<Node, Node | null>;
  expanding: Set<Node>;
}

/** Thrown out of the walk when a bound is hit; the loader turns it into one error. */
class WalkStop {
  constructor(readonly error: GvError) {}
}

/** The deepest nesting of collections a YAML file may have (a gracevisor config needs about 6). */
export const MAX_YAML_DEPTH = 64;

/** The offset of the first collection in `tokens` (yaml's CST) nested deeper than `max`, or -1; iterative, so any text is safe. */
export function tooDeepAt(tokens: readonly CST.Token[], max: number): number {
  const stack: Array<{ token: CST.Token | undefined; depth: number }> = [];
  for (const token of tokens) stack.push({ token, depth: 0 });
  while (stack.length > 0) {
    const { token, depth } = stack.pop()!;
    if (!token) continue;
    if (token.type === 'document') {
      stack.push({ token: token.value, depth });
      continue;
    }
    if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > max) return token.offset;
      for (const item of token.items as Array<{ key?: CST.Token | null; value?: CST.Token }>) {
        if (item.key) stack.push({ token: item.key, depth: depth + 1 });
        stack.push({ token: item.value, depth: depth + 1 });
      }
    }
  }
  return -1;
}

/**
 * Parse YAML text from `file` into a raw value. Syntax errors are GV_ERR_CONFIG_SYNTAX and repeated
 * keys GV_ERR_CONFIG_DUPLICATE_KEY, each at the line and column yaml reports. An empty document is
 * an empty mapping (every key of the format is optional).
 */
export function loadYaml(text: string, file: string): LoadResult<RawValue> {
  const lineCounter = new LineCounter();
  // What yaml's parseDocument does, in two steps so that the depth is checked between them: the
  // concrete syntax tree (built iteratively), then the document (composed recursively).
  const tokens = Array.from(new Parser(lineCounter.addNewLine).parse(text));
  const deep = tooDeepAt(tokens, MAX_YAML_DEPTH);
  if (deep >= 0) {
    const lp = lineCounter.linePos(deep);
    return { value: null, errors: [new GvError('GV_ERR_CONFIG_LIMIT', `collections nest deeper than ${MAX_YAML_DEPTH} levels`, { pos: { file, line: lp.line, col: lp.col }, details: { limit: 'depth', max: MAX_YAML_DEPTH } })] };
  }
  const doc = composeOne(tokens, text.length);
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
  // A tag yaml does not know (`!!js/function`, `!custom`) is only a warning to yaml; here it is an
  // error, since the value would otherwise be read as if the tag were not there.
  for (const w of doc.warnings) {
    errors.push(new GvError('GV_ERR_CONFIG_SYNTAX', w.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), { pos: at(w.pos[0]), details: { yamlCode: w.code } }));
  }
  if (errors.length > 0) return { value: null, errors };
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    return { value: { kind: 'map', entries: [], pos: { file, line: 1, col: 1 } }, errors };
  }
  // Aliases are measured before anything is expanded: a billion laughs costs its text's size, not 10^9.
  const { bomb, targets } = measureAliases(doc.contents as Node, MAX_YAML_NODES);
  if (bomb) {
    return { value: null, errors: [new GvError('GV_ERR_CONFIG_LIMIT', `the YAML expands to more than ${MAX_YAML_NODES} values (aliases of aliases?)`, { pos: at(bomb.range?.[0] ?? 0), details: { limit: 'aliases', max: MAX_YAML_NODES } })] };
  }
  const walk: Walk = { at, errors, targets, expanding: new Set() };
  try {
    return { value: convert(walk, doc.contents as Node), errors };
  } catch (err) {
    if (err instanceof WalkStop) return { value: null, errors: [...errors, err.error] };
    throw err;
  }
}

/**
 * One pass over the document in order: each alias's target (the last anchor of its name before it,
 * as yaml resolves it — `Alias.resolve` searches the whole document on every call, so it is not
 * used), and the first alias at which the values expanded so far pass `max` (`bomb`, or null).
 * Each node's expanded size is computed once (memoized), so this is linear in the document; an
 * alias to a node containing it counts as one value here (the walk reports it). Recursion is bounded
 * by {@link MAX_YAML_DEPTH} plus the length of alias chains, which the memo keeps finite.
 */
function measureAliases(root: Node, max: number): { bomb: Node | null; targets: Map<Node, Node | null> } {
  const anchors = new Map<string, Node>();
  const targets = new Map<Node, Node | null>();
  const sizes = new Map<Node, number>();
  const open = new Set<Node>();
  let total = 0;
  let found: Node | null = null;
  const size = (node: Node | null | undefined, counting: boolean): number => {
    if (!node || found) return 1;
    if (isAlias(node)) {
      // Every alias of the document is met in counting order first; a target's own aliases are known by then.
      if (counting) targets.set(node, anchors.get(node.source) ?? null);
      const target = targets.get(node) ?? null;
      const n = target && !open.has(target) ? size(target, false) : 1;
      if (counting) {
        total += n;
        if (total > max) found = node;
      }
      return n;
    }
    if (counting && node.anchor) anchors.set(node.anchor, node);
    const known = sizes.get(node);
    if (known !== undefined && !counting) return known;
    open.add(node);
    let n = 1;
    if (counting) total += 1;
    if (isMap(node)) for (const pair of node.items) n += size(pair.key as Node | null, counting) + size(pair.value as Node | null, counting);
    else if (isSeq(node)) for (const item of node.items) n += size(item as Node | null, counting);
    open.delete(node);
    sizes.set(node, n);
    return n;
  };
  size(root, true);
  return { bomb: found, targets };
}

/** The first document of `tokens`; a second one is a MULTIPLE_DOCS error on the first (as parseDocument). */
function composeOne(tokens: CST.Token[], length: number): Document {
  let doc: Document | null = null;
  for (const d of new Composer({ uniqueKeys: true, prettyErrors: false, merge: false }).compose(tokens, true, length)) {
    if (!doc) {
      doc = d as Document;
      continue;
    }
    doc.errors.push(new YAMLParseError([d.range[0], d.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents; please use YAML.parseAllDocuments()'));
    break;
  }
  return doc!;
}

function convert(walk: Walk, node: Node): RawValue {
  const { at, errors } = walk;
  const pos = at(node.range?.[0] ?? 0);
  if (isAlias(node)) {
    const target = walk.targets.get(node) ?? null;
    if (!target) {
      errors.push(new GvError('GV_ERR_CONFIG_SYNTAX', `the alias *${node.source} refers to no anchor &${node.source} before it`, { pos, details: { alias: node.source } }));
      return { kind: 'scalar', value: null, pos };
    }
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

