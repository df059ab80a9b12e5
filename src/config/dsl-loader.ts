/**
 * The block DSL loader: gracevisor.conf text to the raw tree of ./raw.ts, the same shape the YAML
 * loader builds. The Peggy grammar (grammar/gracevisor.peggy) knows no key names; the few directives
 * that are DSL spellings of YAML keys are mapped here:
 *
 * - `app NAME { … }` is one entry of `apps` (with `name NAME`); repeated `app` blocks accumulate.
 * - `include PATH…;` is `apps_include`; `plugins`, `apps_include`, `include` and an app's
 *   `environment` accumulate across repeated directives.
 * - `listen HOST:PORT;` is `external_host` + `external_port`; `listen PORT;` only the port.
 * - `healthcheck /path;` is the string form; `healthcheck TYPE [PATH] [{ … }]` a typed block.
 *
 * Everything else is generic: `k v;` is a scalar, `k v1 v2;` a list, `k;` is `true`, `k { … }` a
 * mapping. A bare word that reads as a number is a number; quoted strings stay strings.
 */
import { GvError, type SourcePosition } from '../errors.js';
import { parse, SyntaxError as PeggySyntaxError } from './generated/dsl-parser.js';
import type { LoadResult, RawEntry, RawList, RawMap, RawScalar, RawValue } from './raw.js';

/** One directive as the grammar returns it. */
export interface DslDirective {
  name: string;
  nameLoc: DslLoc;
  args: DslArg[];
  block: DslDirective[] | null;
  loc: DslLoc;
}

/** One argument as the grammar returns it. */
export interface DslArg {
  value: string;
  quoted: boolean;
  loc: DslLoc;
}

interface DslLoc {
  line: number;
  col: number;
  offset: number;
}

/** Where a block's directives are read: the mapping rules differ a little per context. */
type Context = 'main' | 'app' | 'generic';

/** Keys whose repeated directives add to one list instead of being duplicates. */
const ACCUMULATE: Record<Context, ReadonlySet<string>> = {
  main: new Set(['apps_include', 'plugins', 'apps', 'alerts']),
  app: new Set(['environment', 'alerts']),
  generic: new Set(),
};

/** Parse DSL text into directives; a syntax error is GV_ERR_CONFIG_SYNTAX at the parser's location. */
export function parseDsl(text: string, file: string): LoadResult<DslDirective[]> {
  try {
    return { value: parse(text, { grammarSource: file }) as DslDirective[], errors: [] };
  } catch (err) {
    if (err instanceof PeggySyntaxError) {
      const pos = { file, line: err.location.start.line, col: err.location.start.column };
      if (err.message.startsWith('blocks nest deeper')) return { value: null, errors: [new GvError('GV_ERR_CONFIG_LIMIT', err.message, { pos, details: { limit: 'depth' } })] };
      return { value: null, errors: [new GvError('GV_ERR_CONFIG_SYNTAX', err.message, { pos, details: { found: err.found ?? null } })] };
    }
    // The parser is bounded (nesting depth, linear in the text); anything else is still this text's fault, not a crash.
    return { value: null, errors: [new GvError('GV_ERR_CONFIG_SYNTAX', `the text cannot be parsed: ${err instanceof Error ? err.message : String(err)}`, { pos: { file, line: 1, col: 1 }, cause: err })] };
  }
}

/** Load a main config file (gracevisor.conf) into the raw tree of the whole config. */
export function loadDslMain(text: string, file: string): LoadResult<RawMap> {
  const parsed = parseDsl(text, file);
  if (!parsed.value) return { value: null, errors: parsed.errors };
  const errors: GvError[] = [];
  const root = new DslMapper(file, errors).map(parsed.value, 'main', { file, line: 1, col: 1 });
  return { value: root, errors };
}

/** An app file's content: the apps it defines and the includes it names (nested includes). */
export interface DslAppFile {
  apps: RawMap[];
  includes: RawScalar[];
  /** The file's own position (1:1), for errors about the file as a whole. */
  pos: SourcePosition;
}

/**
 * Load an included app file. It holds either `app NAME { … }` blocks (and `include` directives),
 * or the directives of one app's body at top level (`name`, `command`, …), as the YAML format holds
 * one app as a mapping.
 */
export function loadDslAppFile(text: string, file: string): LoadResult<DslAppFile> {
  const parsed = parseDsl(text, file);
  if (!parsed.value) return { value: null, errors: parsed.errors };
  const errors: GvError[] = [];
  const mapper = new DslMapper(file, errors);
  const directives = parsed.value;
  const pos = { file, line: 1, col: 1 };
  const hasApp = directives.some((d) => d.name === 'app');
  if (!hasApp) return { value: { apps: [mapper.map(directives, 'app', pos)], includes: [], pos }, errors };
  const apps: RawMap[] = [];
  const includes: RawScalar[] = [];
  for (const d of directives) {
    if (d.name === 'app') {
      const app = mapper.app(d);
      if (app) apps.push(app);
    } else if (d.name === 'include' || d.name === 'apps_include') {
      if (d.block) errors.push(new GvError('GV_ERR_CONFIG_TYPE', `"${d.name}" takes paths, not a block`, { pos: mapper.pos(d.nameLoc) }));
      for (const a of d.args) includes.push(mapper.scalar(a));
    } else {
      errors.push(new GvError('GV_ERR_CONFIG_UNKNOWN_KEY', `"${d.name}" cannot stand beside app blocks in an app file; put it inside an app block`, {
        pos: mapper.pos(d.nameLoc),
        details: { key: d.name, known: ['app', 'include'] },
      }));
    }
  }
  return { value: { apps, includes, pos }, errors };
}

/** Turns directives into raw mappings for one file, collecting errors. */
class DslMapper {
  readonly #file: string;
  readonly #errors: GvError[];

  constructor(file: string, errors: GvError[]) {
    this.#file = file;
    this.#errors = errors;
  }

  pos(l: DslLoc): SourcePosition {
    return { file: this.#file, line: l.line, col: l.col };
  }

  scalar(a: DslArg, posOverride?: SourcePosition): RawScalar {
    const pos = posOverride ?? this.pos(a.loc);
    if (!a.quoted && /^-?\d+(\.\d+)?$/.test(a.value)) return { kind: 'scalar', value: Number(a.value), pos };
    return { kind: 'scalar', value: a.value, pos };
  }

  /** A block's directives as one mapping. */
  map(directives: DslDirective[], ctx: Context, pos: SourcePosition): RawMap {
    const entries: RawEntry[] = [];
    const add = (entry: RawEntry): void => {
      const existing = entries.find((e) => e.key === entry.key);
      if (!existing) {
        entries.push(entry);
        return;
      }
      if (ACCUMULATE[ctx].has(entry.key) && existing.value.kind === 'list' && entry.value.kind === 'list') {
        existing.value.items.push(...entry.value.items);
        return;
      }
      this.#errors.push(new GvError('GV_ERR_CONFIG_DUPLICATE_KEY', `"${entry.key}" is given twice (first at line ${existing.keyPos.line})`, {
        pos: entry.keyPos,
        details: { key: entry.key, first: existing.keyPos },
      }));
    };
    for (const d of directives) {
      for (const entry of this.#entries(d, ctx)) add(entry);
    }
    return { kind: 'map', entries, pos };
  }

  /** `app NAME { … }` as one app mapping, or null (with an error) when malformed. */
  app(d: DslDirective): RawMap | null {
    const pos = this.pos(d.nameLoc);
    if (!d.block) {
      this.#errors.push(new GvError('GV_ERR_CONFIG_TYPE', '"app" needs a block: app NAME { … }', { pos }));
      return null;
    }
    if (d.args.length > 1) {
      this.#errors.push(new GvError('GV_ERR_CONFIG_TYPE', '"app" takes one name before its block', { pos: this.pos(d.args[1]!.loc) }));
    }
    const body = this.map(d.block, 'app', pos);
    const nameArg = d.args[0];
    if (nameArg) {
      const nameEntry: RawEntry = { key: 'name', keyPos: this.pos(nameArg.loc), value: { kind: 'scalar', value: nameArg.value, pos: this.pos(nameArg.loc) } };
      const dup = body.entries.find((e) => e.key === 'name');
      if (dup) {
        this.#errors.push(new GvError('GV_ERR_CONFIG_DUPLICATE_KEY', '"name" is given twice (first after "app")', { pos: dup.keyPos, details: { key: 'name' } }));
      } else {
        body.entries.unshift(nameEntry);
      }
    }
    return body;
  }

  #entries(d: DslDirective, ctx: Context): RawEntry[] {
    const keyPos = this.pos(d.nameLoc);
    if (ctx === 'main') {
      if (d.name === 'app') {
        const app = this.app(d);
        return app ? [{ key: 'apps', keyPos, value: { kind: 'list', items: [app], pos: keyPos } }] : [];
      }
      if (d.name === 'include' || d.name === 'apps_include' || d.name === 'plugins') {
        const key = d.name === 'include' ? 'apps_include' : d.name;
        if (d.block) {
          this.#errors.push(new GvError('GV_ERR_CONFIG_TYPE', `"${d.name}" takes a list of values, not a block`, { pos: keyPos }));
          return [];
        }
        return [{ key, keyPos, value: { kind: 'list', items: d.args.map((a) => this.scalar(a)), pos: keyPos } }];
      }
    }
    if ((ctx === 'main' || ctx === 'app') && d.name === 'alert') {
      const route = this.#alert(d);
      return route ? [{ key: 'alerts', keyPos, value: { kind: 'list', items: [route], pos: keyPos } }] : [];
    }
    if (ctx === 'app') {
      if (d.name === 'environment' && !d.block) {
        return [{ key: 'environment', keyPos, value: { kind: 'list', items: d.args.map((a) => this.scalar(a)), pos: keyPos } }];
      }
      if (d.name === 'listen') return this.#listen(d);
      if (d.name === 'healthcheck') return [{ key: 'healthcheck', keyPos, value: this.#healthcheck(d) }];
    }
    // Only top-level `app` blocks have app rules; everything nested below them is generic.
    return [{ key: d.name, keyPos, value: this.#generic(d, 'generic') }];
  }

  #generic(d: DslDirective, ctx: Context): RawValue {
    const keyPos = this.pos(d.nameLoc);
    if (d.block) {
      if (d.args.length > 0) {
        this.#errors.push(new GvError('GV_ERR_CONFIG_TYPE', `"${d.name}" takes either values or a block, not both`, { pos: this.pos(d.args[0]!.loc) }));
      }
      return this.map(d.block, ctx, keyPos);
    }
    if (d.args.length === 0) return { kind: 'scalar', value: true, pos: keyPos };
    if (d.args.length === 1) return this.scalar(d.args[0]!);
    const list: RawList = { kind: 'list', items: d.args.map((a) => this.scalar(a)), pos: this.pos(d.args[0]!.loc) };
    return list;
  }

  /** `healthcheck /path;`, `healthcheck tcp;`, `healthcheck http /health { interval 2s; }`, `healthcheck { type tcp; }`. */
  #healthcheck(d: DslDirective): RawValue {
    const keyPos = this.pos(d.nameLoc);
    const [a0, a1] = d.args;
    if (d.args.length > 2 || (d.args.length === 0 && !d.block)) return this.#generic(d, 'generic');
    if (!d.block && d.args.length === 1 && a0!.value.startsWith('/')) return this.scalar(a0!);
    const lead: RawEntry[] = [];
    if (a0 && a0.value.startsWith('/') && !a1) {
      lead.push({ key: 'path', keyPos: this.pos(a0.loc), value: this.scalar(a0) });
    } else if (a0) {
      lead.push({ key: 'type', keyPos: this.pos(a0.loc), value: this.scalar(a0) });
      if (a1) lead.push({ key: 'path', keyPos: this.pos(a1.loc), value: this.scalar(a1) });
    }
    const body = this.map([...(d.block ?? [])], 'generic', keyPos);
    for (const e of lead.reverse()) {
      const dup = body.entries.find((x) => x.key === e.key);
      if (dup) {
        this.#errors.push(new GvError('GV_ERR_CONFIG_DUPLICATE_KEY', `"${e.key}" is given twice (first after "healthcheck")`, { pos: dup.keyPos, details: { key: e.key } }));
      } else {
        body.entries.unshift(e);
      }
    }
    return body;
  }

  /** `alert TYPE;` or `alert TYPE { option value; … }`: one entry of `alerts`, its type first. */
  #alert(d: DslDirective): RawMap | null {
    const keyPos = this.pos(d.nameLoc);
    const [type, extra] = d.args;
    if (!type) {
      this.#errors.push(new GvError('GV_ERR_CONFIG_REQUIRED', '"alert" needs a type: alert webhook { url …; }', { pos: keyPos }));
      return null;
    }
    if (extra) this.#errors.push(new GvError('GV_ERR_CONFIG_TYPE', '"alert" takes one type before its block', { pos: this.pos(extra.loc) }));
    const body = this.map([...(d.block ?? [])], 'generic', keyPos);
    const dup = body.entries.find((e) => e.key === 'type');
    if (dup) {
      this.#errors.push(new GvError('GV_ERR_CONFIG_DUPLICATE_KEY', '"type" is given twice (first after "alert")', { pos: dup.keyPos, details: { key: 'type' } }));
    } else {
      body.entries.unshift({ key: 'type', keyPos: this.pos(type.loc), value: this.scalar(type) });
    }
    return body;
  }

  /** `listen HOST:PORT;` / `listen [::1]:PORT;` / `listen PORT;` as external_host and external_port. */
  #listen(d: DslDirective): RawEntry[] {
    const keyPos = this.pos(d.nameLoc);
    const arg = d.args[0];
    if (d.block || d.args.length !== 1 || !arg) {
      this.#errors.push(new GvError('GV_ERR_CONFIG_TYPE', '"listen" takes one address: listen HOST:PORT; or listen PORT;', { pos: keyPos }));
      return [];
    }
    const text = arg.value;
    const argPos = this.pos(arg.loc);
    const shift = (n: number): SourcePosition => ({ ...argPos, col: argPos.col + n + (arg.quoted ? 1 : 0) });
    const colon = text.lastIndexOf(':');
    const closeBracket = text.lastIndexOf(']');
    if (colon < 0 || colon < closeBracket) {
      return [{ key: 'external_port', keyPos, value: this.scalar(arg) }];
    }
    let host = text.slice(0, colon);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    // nginx's `listen *:8080` means every IPv4 address.
    if (host === '*') host = '0.0.0.0';
    const portText = text.slice(colon + 1);
    const out: RawEntry[] = [];
    if (host !== '') out.push({ key: 'external_host', keyPos, value: { kind: 'scalar', value: host, pos: argPos } });
    out.push({ key: 'external_port', keyPos, value: this.scalar({ value: portText, quoted: false, loc: arg.loc }, shift(colon + 1)) });
    return out;
  }
}

