/**
 * The raw config tree: what both loaders (YAML and the block DSL) produce and the one resolver reads.
 * It is untyped config data plus a source position on every key and every value, so each error the
 * resolver finds can name `file:line:col` whichever syntax the text was written in.
 */
import type { GvError, SourcePosition } from '../errors.js';

/** A single value: a string, a number, a boolean or null, as the source wrote it. */
export interface RawScalar {
  kind: 'scalar';
  value: string | number | boolean | null;
  pos: SourcePosition;
}

/** A sequence of values (YAML list, or a DSL directive with several arguments). */
export interface RawList {
  kind: 'list';
  items: RawValue[];
  pos: SourcePosition;
}

/** One key of a mapping, with the position of the key itself (the value has its own). */
export interface RawEntry {
  key: string;
  keyPos: SourcePosition;
  value: RawValue;
}

/**
 * A mapping (YAML mapping, or a DSL block). Entries keep source order. Loaders reject duplicate keys
 * themselves, so a key appears at most once.
 */
export interface RawMap {
  kind: 'map';
  entries: RawEntry[];
  pos: SourcePosition;
}

/** Any raw value. */
export type RawValue = RawScalar | RawList | RawMap;

/** One parsed source file: its absolute path and its top-level mapping. */
export interface RawDocument {
  file: string;
  root: RawMap;
}

/** A human name for a raw value's kind, for type error messages. */
export function describeRaw(v: RawValue): string {
  if (v.kind === 'map') return 'a mapping';
  if (v.kind === 'list') return 'a list';
  if (v.value === null) return 'null';
  return `a ${typeof v.value}`;
}

/** The entry of `map` named `key`, if present. */
export function getEntry(map: RawMap, key: string): RawEntry | undefined {
  return map.entries.find((e) => e.key === key);
}

/**
 * A raw value as plain data (positions dropped), for options handed to a plugin's own parser.
 */
export function rawToPlain(v: RawValue): unknown {
  if (v.kind === 'scalar') return v.value;
  if (v.kind === 'list') return v.items.map(rawToPlain);
  const out: Record<string, unknown> = {};
  for (const e of v.entries) out[e.key] = rawToPlain(e.value);
  return out;
}

/** What a loader hands back: the value (null when the text does not parse at all) and every problem seen. */
export interface LoadResult<T> {
  value: T | null;
  errors: GvError[];
}

/**
 * The entries of `map` not in `common`, as plain options sorted by key (a type's own options, for
 * its parser), with where each value was written.
 */
export function typeOptions(map: RawMap, common: readonly string[]): { options: Record<string, unknown>; optionPos: Record<string, SourcePosition> } {
  const options: Record<string, unknown> = {};
  const optionPos: Record<string, SourcePosition> = {};
  for (const entry of [...map.entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (common.includes(entry.key)) continue;
    options[entry.key] = rawToPlain(entry.value);
    optionPos[entry.key] = entry.value.pos;
  }
  return { options, optionPos };
}
