/**
 * Reading raw config values into typed ones: the one place that knows how a string, a port, a
 * duration, a size, a path or a signal is written, and what error each gets when it is not. A
 * Reader collects every problem instead of stopping at the first, so `--check` can print them all.
 * The section readers (./sections/) and the resolver (./resolve.ts) share one Reader per config.
 */
import { constants as osConstants } from 'node:os';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { GvError, type ErrorCode, type SourcePosition } from '../errors.js';
import { describeRaw, type RawMap, type RawValue } from './raw.js';
import { suggest } from './suggest.js';
import { parseDuration, parseSize } from './units.js';

/**
 * The longest duration a timer can honour: Node's setTimeout takes at most 2^31-1 ms (about 24.8
 * days) and turns anything longer into 1 ms, so a longer value is refused rather than misread.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** True for YAML's empty value (`key:`) and `null`: the same as leaving the key out. */
export function isNull(v: RawValue | undefined): boolean {
  return v !== undefined && v.kind === 'scalar' && v.value === null;
}

/** Typed reads of raw values, collecting every problem with its position. */
export class Reader {
  readonly #errors: GvError[];

  /** `errors`: problems found before resolving (syntax, includes); they stay first in the list. */
  constructor(errors: readonly GvError[] = []) {
    this.#errors = [...errors];
  }

  /** Every problem so far, in the order found. */
  get errors(): GvError[] {
    return [...this.#errors];
  }

  /** Record one problem at `pos`. */
  error(code: ErrorCode, message: string, pos: SourcePosition, details?: Record<string, unknown>): void {
    this.#errors.push(new GvError(code, message, details ? { pos, details } : { pos }));
  }

  /** Record problems found elsewhere (a loader's, a plugin parser's). */
  add(errors: readonly GvError[]): void {
    this.#errors.push(...errors);
  }

  /** Reject keys of `map` not in `known`, suggesting the nearest one. */
  checkKeys(map: RawMap, known: readonly string[], where: string): void {
    for (const e of map.entries) {
      if (known.includes(e.key)) continue;
      const suggestion = suggest(e.key, known);
      const hint = suggestion ? `; did you mean "${suggestion}"?` : '';
      this.error('GV_ERR_CONFIG_UNKNOWN_KEY', `unknown key "${e.key}" in ${where}${hint}`, e.keyPos, { key: e.key, suggestion, known: [...known] });
    }
  }

  /** The value as a mapping, or undefined after a type error. A missing or empty value is an empty mapping. */
  map(v: RawValue | undefined, what: string, at: SourcePosition): RawMap | undefined {
    if (v === undefined) return { kind: 'map', entries: [], pos: at };
    if (isNull(v)) return { kind: 'map', entries: [], pos: v.pos };
    if (v.kind === 'map') return v;
    this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a mapping (a block), not ${describeRaw(v)}`, v.pos);
    return undefined;
  }

  /** A string (a number is taken as its decimal text, as `user 1000;` or `host: 127` would mean). */
  string(v: RawValue, what: string, nulCode: ErrorCode = 'GV_ERR_CONFIG_TYPE'): string | undefined {
    if (v.kind === 'scalar' && typeof v.value === 'string') {
      // No command, path, name or value can hold a NUL: execve, open and the environment refuse it.
      if (v.value.includes('\0')) {
        this.error(nulCode, `"${what}" holds a NUL character (\\0), which no command, path or value may`, v.pos);
        return undefined;
      }
      return v.value;
    }
    if (v.kind === 'scalar' && typeof v.value === 'number') return String(v.value);
    this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a string, not ${describeRaw(v)}`, v.pos);
    return undefined;
  }

  /** A string that is not empty or blank. */
  nonEmpty(v: RawValue, what: string, nulCode: ErrorCode = 'GV_ERR_CONFIG_TYPE'): string | undefined {
    const s = this.string(v, what, nulCode);
    if (s === undefined) return undefined;
    if (s.trim() === '') {
      this.error('GV_ERR_CONFIG_RANGE', `"${what}" must not be empty`, v.pos);
      return undefined;
    }
    return s;
  }

  /** A string or a list of strings, as a list, each with its position. */
  stringList(v: RawValue, what: string): { value: string; pos: SourcePosition }[] {
    const items = v.kind === 'list' ? v.items : [v];
    const out: { value: string; pos: SourcePosition }[] = [];
    for (const item of items) {
      const s = this.nonEmpty(item, what);
      if (s !== undefined) out.push({ value: s, pos: item.pos });
    }
    return out;
  }

  /** An integer from `min` to `max`. */
  integer(v: RawValue, what: string, min: number, max: number): number | undefined {
    if (v.kind !== 'scalar' || typeof v.value !== 'number' || !Number.isInteger(v.value)) {
      this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be an integer, not ${describeRaw(v)}${v.kind === 'scalar' ? ` (${JSON.stringify(v.value)})` : ''}`, v.pos);
      return undefined;
    }
    if (v.value < min || v.value > max) {
      this.error('GV_ERR_CONFIG_RANGE', `"${what}" must be between ${min} and ${max}, not ${v.value}`, v.pos, { min, max, value: v.value });
      return undefined;
    }
    return v.value;
  }

  /** A TCP port, 1 to 65535. */
  port(v: RawValue, what: string): number | undefined {
    return this.integer(v, what, 1, 65535);
  }

  /**
   * A duration in ms; `-1` means "none" (null) where `unlimited` allows it. At most `max`, by
   * default {@link MAX_DURATION_MS}: a longer one could not be honoured by a timer.
   */
  duration(v: RawValue, what: string, opts: { unlimited?: boolean; min?: number; max?: number } = {}): number | null | undefined {
    if (v.kind !== 'scalar' || (typeof v.value !== 'number' && typeof v.value !== 'string')) {
      this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a duration (30, 500ms, 30s, 5m), not ${describeRaw(v)}`, v.pos);
      return undefined;
    }
    if (opts.unlimited && (v.value === -1 || v.value === '-1')) return null;
    const ms = parseDuration(v.value);
    if (ms === null) {
      this.error('GV_ERR_CONFIG_DURATION', `"${what}" is not a duration: ${JSON.stringify(v.value)} (use seconds or 500ms, 30s, 5m, 1h${opts.unlimited ? ', or -1 for none' : ''})`, v.pos);
      return undefined;
    }
    const min = opts.min ?? 0;
    const max = opts.max ?? MAX_DURATION_MS;
    if (ms < min || ms > max) {
      const message = ms < min
        ? `"${what}" must be at least ${min} ms, not ${ms} ms`
        : `"${what}" must be at most ${max} ms (about ${Math.floor(max / 86_400_000)} days, the longest a timer can wait), not ${ms} ms${opts.unlimited ? '; use -1 for none' : ''}`;
      this.error('GV_ERR_CONFIG_RANGE', message, v.pos, { min, max, value: ms });
      return undefined;
    }
    return ms;
  }

  /** A size in bytes, more than 0. */
  size(v: RawValue, what: string): number | undefined {
    if (v.kind !== 'scalar' || (typeof v.value !== 'number' && typeof v.value !== 'string')) {
      this.error('GV_ERR_CONFIG_TYPE', `"${what}" must be a size (500 for MB, or 64K, 500M, 1G), not ${describeRaw(v)}`, v.pos);
      return undefined;
    }
    const bytes = parseSize(v.value);
    if (bytes === null) {
      this.error('GV_ERR_CONFIG_SIZE', `"${what}" is not a size: ${JSON.stringify(v.value)} (use megabytes, or 64K, 500M, 1G)`, v.pos);
      return undefined;
    }
    if (bytes < 1) {
      this.error('GV_ERR_CONFIG_RANGE', `"${what}" must be more than 0`, v.pos);
      return undefined;
    }
    return bytes;
  }

  /** A path, absolute, resolved against the directory of the file that wrote it. */
  path(v: RawValue | undefined, what = 'path'): string | undefined {
    if (v === undefined) return undefined;
    const s = this.nonEmpty(v, what);
    if (s === undefined) return undefined;
    return isAbsolute(s) ? s : resolvePath(dirname(v.pos.file), s);
  }

  /** A signal name, with or without SIG, any case; the result is the name without SIG. */
  signal(v: RawValue, what: string): string | undefined {
    const s = this.nonEmpty(v, what);
    if (s === undefined) return undefined;
    const name = s.toUpperCase().replace(/^SIG/, '');
    if (!(`SIG${name}` in osConstants.signals)) {
      const known = Object.keys(osConstants.signals).map((k) => k.slice(3));
      const suggestion = suggest(name, known);
      this.error('GV_ERR_CONFIG_RANGE', `"${what}" ${JSON.stringify(s)} is not a signal${suggestion ? `; did you mean "${suggestion}"?` : ''}`, v.pos, { suggestion });
      return undefined;
    }
    return name;
  }
}

/** How one key of a section is read, and what it is when the key is left out. */
export interface Field<T> {
  default: T;
  read(r: Reader, v: RawValue, key: string): T | undefined;
}

/** A {@link Field}, typed by its default. */
export function field<T>(dflt: T, read: (r: Reader, v: RawValue, key: string) => T | undefined): Field<T> {
  return { default: dflt, read };
}

/** The values of a field table, typed. */
export type FieldValues<F extends Record<string, Field<unknown>>> = { [K in keyof F]: F[K] extends Field<infer T> ? T : never };

/**
 * Read every key of `fields` from `map`: a key left out takes the field's default, and so does a
 * value that fails to read (its error is recorded). Unknown keys are the caller's to check, since
 * most sections have keys beyond their simple fields.
 */
export function readFields<F extends Record<string, Field<unknown>>>(r: Reader, map: RawMap, fields: F, prefix = ''): FieldValues<F> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(fields)) {
    const entry = map.entries.find((e) => e.key === key);
    if (!entry) {
      out[key] = f.default;
      continue;
    }
    const v = f.read(r, entry.value, prefix + key);
    out[key] = v === undefined ? f.default : v;
  }
  return out as FieldValues<F>;
}
