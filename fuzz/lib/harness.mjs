/**
 * The config-loader fuzz harness (see ../README.md). One execution runs, in process and without
 * touching the file system, what `loadConfig` / `loadAppFile` run on a file's text:
 *
 *   main file: loadYaml | loadDslMain -> (top level must be a map) -> includeEntries ->
 *              resolveConfig -> validateConfig (built-in registry) -> GvConfigError(sortErrors(...))
 *              or the Config (+ configToJson, what --print prints)
 *   app file:  loadYaml | loadDslAppFile -> "exactly one app" -> resolveAppConfig -> validateApp
 *
 * Left out, because they need the disk or load code: include expansion (fast-glob, stat, readdir),
 * directory warnings (stat), phase 2 (plugin import).
 *
 * A FINDING (thrown out of the target, so jazzer records it) is:
 *   - any exception escaping the pipeline (the contract: load, or a GvConfigError);
 *   - a loader returning neither a value nor an error (GvConfigError([]) would crash on it);
 *   - a reported problem that is not a GvError, whose code is not in ErrorCodes or not GV_ERR_CONFIG_*,
 *     whose message is empty, or without a valid `pos` {file (this input's), line >= 1, col >= 1,
 *     line within the text};
 *   - a run that takes > 2 s or leaves the V8 heap above HEAP_LIMIT for one input;
 *   - for a sample of inputs (by content hash), two runs that disagree (config JSON or errors).
 *
 * GV_FUZZ_DIST selects the compiled tree (default: the repo's dist/).
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(process.env.GV_FUZZ_DIST ?? join(here, '../../dist'));
const imp = (p) => import(pathToFileURL(join(DIST, p)).href);

const { ErrorCodes, GvError, GvConfigError } = await imp('errors.js');
const { loadYaml } = await imp('config/yaml-loader.js');
const { loadDslMain, loadDslAppFile } = await imp('config/dsl-loader.js');
const { includeEntries } = await imp('config/includes.js');
const { getEntry } = await imp('config/raw.js');
const { resolveConfig, resolveAppConfig } = await imp('config/resolve.js');
const { validateConfig, validateApp } = await imp('config/validate.js');
const { sortErrors } = await imp('config/sort-errors.js');
const { configToJson } = await imp('config/check.js');
const { createRegistry } = await imp('builtins.js');

const REGISTRY = createRegistry().configView();
const RUNTIME = Object.freeze({ uid: 1000, env: {}, tmpdir: '/tmp' });
const FILES = { yaml: '/fuzz/in/gracevisor.yaml', dsl: '/fuzz/in/gracevisor.conf' };
const APP_FILES = { yaml: '/fuzz/in/apps/app.yaml', dsl: '/fuzz/in/apps/app.conf' };
export const TIME_LIMIT_MS = 2000;
export const HEAP_LIMIT = 768 * 1024 * 1024;
/** One input in DETERMINISM_EVERY (by content hash) is run twice and compared. */
export const DETERMINISM_EVERY = 8;

/**
 * Known findings filtered so fuzzing can go on (each is saved under ../regressions/). A function of
 * (syntax, what, error) -> true to skip. Empty unless a finding blocks progress; set
 * GV_FUZZ_NO_FILTER=1 to disable all filters (regression replay does).
 */
const KNOWN = [
];

class Finding extends Error {
  constructor(message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'Finding';
  }
}

function describeThrown(err) {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return `${typeof err}: ${String(err)}`;
}

function checkErrors(syntax, what, errors, file, maxLine) {
  for (const e of errors) {
    if (!(e instanceof GvError)) throw new Finding(`${what}: a reported problem is not a GvError: ${describeThrown(e)}`, e);
    if (typeof e.code !== 'string' || !Object.hasOwn(ErrorCodes, e.code)) throw new Finding(`${what}: code ${String(e.code)} is not in ErrorCodes (${e.message})`, e);
    if (!e.code.startsWith('GV_ERR_CONFIG_')) throw new Finding(`${what}: code ${e.code} is not a GV_ERR_CONFIG_* code: ${e.message}\n${e.cause instanceof Error ? e.cause.stack : ''}`, e);
    if (typeof e.message !== 'string' || e.message === '') throw new Finding(`${what}: ${e.code} with an empty message`, e);
    const p = e.pos;
    if (!p) throw new Finding(`${what}: ${e.code} without a pos: ${e.message}`, e);
    if (p.file !== file) throw new Finding(`${what}: ${e.code} at file ${JSON.stringify(p.file)}, not the input's ${file}: ${e.message}`, e);
    if (!Number.isInteger(p.line) || !Number.isInteger(p.col) || p.line < 1 || p.col < 1) throw new Finding(`${what}: ${e.code} at a bad position ${p.line}:${p.col}: ${e.message}`, e);
    if (p.line > maxLine) throw new Finding(`${what}: ${e.code} at line ${p.line}, past the text's ${maxLine} lines: ${e.message}`, e);
    // What the CLI prints must not throw either.
    e.format();
    JSON.stringify(e.toJSON());
  }
}

/** A comparable summary of one outcome. */
function summary(outcome) {
  if (outcome.config !== undefined) return `ok ${outcome.config}`;
  return `err ${outcome.errors.map((e) => `${e.code}@${e.pos?.line}:${e.pos?.col} ${e.message}`).join('\n')}`;
}

/** The main-file pipeline: what loadConfig does (phases 1 and 3) on this text. */
function runMain(syntax, text, maxLine) {
  const file = FILES[syntax];
  const what = `${syntax} main file`;
  const errors = [];
  let root = null;
  if (syntax === 'dsl') {
    const res = loadDslMain(text, file);
    errors.push(...res.errors);
    root = res.value;
    if (!root && res.errors.length === 0) throw new Finding(`${what}: loadDslMain returned no value and no error`);
  } else {
    const res = loadYaml(text, file);
    errors.push(...res.errors);
    if (!res.value && res.errors.length === 0) throw new Finding(`${what}: loadYaml returned no value and no error`);
    if (res.value && res.value.kind !== 'map') {
      errors.push(new GvError('GV_ERR_CONFIG_TYPE', 'the config must be a mapping of keys at the top level', { pos: res.value.pos }));
    } else if (res.value) root = res.value;
  }
  if (!root) {
    const err = new GvConfigError(sortErrors(errors, file));
    checkErrors(syntax, what, err.errors, file, maxLine);
    err.format();
    return { errors: err.errors };
  }
  includeEntries(getEntry(root, 'apps_include')?.value);
  const draft = resolveConfig({ file, root, includedApps: [], errors }, RUNTIME);
  const done = validateConfig({ ...draft, errors: [...draft.errors] }, REGISTRY);
  if (done.errors.length > 0) {
    const err = new GvConfigError(sortErrors(done.errors, file));
    checkErrors(syntax, what, err.errors, file, maxLine);
    err.format();
    return { errors: err.errors };
  }
  return { config: configToJson(done.config) };
}

/** The app-file pipeline: what loadAppFile does (gracevisorctl add FILE) on this text, includes left out. */
function runApp(syntax, text, maxLine) {
  const file = APP_FILES[syntax];
  const what = `${syntax} app file`;
  const errors = [];
  let apps = [];
  if (syntax === 'dsl') {
    const res = loadDslAppFile(text, file);
    errors.push(...res.errors);
    if (!res.value && res.errors.length === 0) throw new Finding(`${what}: loadDslAppFile returned no value and no error`);
    if (res.value) {
      apps = res.value.apps;
      for (const inc of res.value.includes) if (inc.kind !== 'scalar') throw new Finding(`${what}: an include that is not a scalar`);
    }
  } else {
    const res = loadYaml(text, file);
    errors.push(...res.errors);
    if (res.value && res.value.kind !== 'map') errors.push(new GvError('GV_ERR_CONFIG_TYPE', 'an app file must be one mapping (the keys of one app)', { pos: res.value.pos }));
    else if (res.value) apps = [res.value];
  }
  let app = null;
  if (apps.length !== 1) {
    if (errors.length === 0) errors.push(new GvError('GV_ERR_CONFIG_TYPE', `an app file must define exactly one app, not ${apps.length}`, { pos: { file, line: 1, col: 1 } }));
  } else {
    const r = resolveAppConfig(apps[0], null, errors);
    errors.length = 0;
    errors.push(...r.errors);
    app = r.app;
    if (app && r.sources) app = validateApp(app, r.sources, REGISTRY, errors);
  }
  if (errors.length > 0 || !app) {
    if (errors.length === 0) throw new Finding(`${what}: no app and no error`);
    const err = new GvConfigError(sortErrors(errors, file));
    checkErrors(syntax, what, err.errors, file, maxLine);
    return { errors: err.errors };
  }
  return { config: JSON.stringify(app) };
}

function runAll(syntax, text, maxLine) {
  const out = [];
  for (const [what, fn] of [['main', runMain], ['app', runApp]]) {
    try {
      out.push(summary(fn(syntax, text, maxLine)));
    } catch (err) {
      if (!(err instanceof Finding) && KNOWN.some((k) => k(syntax, what, err))) {
        out.push('filtered');
        continue;
      }
      if (err instanceof Finding) throw err;
      throw new Finding(`${syntax} ${what} file: ${err instanceof GvError ? `GvError ${err.code} thrown instead of reported` : 'a non-GvConfigError escaped'}: ${describeThrown(err)}`, err);
    }
  }
  return out.join('\n--\n');
}

let calls = 0;

/** One input, every check; throws a Finding. */
function check(syntax, data) {
  const text = Buffer.from(data).toString('utf8');
  let maxLine = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) maxLine++;
  const t0 = performance.now();
  const first = runAll(syntax, text, maxLine);
  const ms = performance.now() - t0;
  if (ms > TIME_LIMIT_MS) throw new Finding(`${syntax}: one run took ${Math.round(ms)} ms (> ${TIME_LIMIT_MS} ms) for ${data.length} bytes`);
  // A tripwire only (V8's own heap cap, --max-old-space-size in run.mjs, aborts a real blowup).
  if (++calls % 16 === 0) {
    const heap = process.memoryUsage().heapUsed;
    if (heap > HEAP_LIMIT) {
      globalThis.gc?.();
      if (process.memoryUsage().heapUsed > HEAP_LIMIT) throw new Finding(`${syntax}: heap at ${Math.round(heap / 2 ** 20)} MiB after ${data.length} bytes`);
    }
  }
  if (createHash('sha1').update(data).digest()[0] % DETERMINISM_EVERY === 0) {
    const second = runAll(syntax, text, maxLine);
    if (second !== first) throw new Finding(`${syntax}: two runs of one input disagree:\n${first}\n-- vs --\n${second}`);
  }
}

/**
 * The fuzz target for `syntax` ('yaml' | 'dsl'). Stack traces cost more than the parse itself (every
 * YAMLError and GvError captures one), so the run is without them; an input that fails is run again
 * with them, for the report.
 */
export function makeTarget(syntax) {
  if (process.env.GV_FUZZ_NO_FILTER === '1') KNOWN.length = 0;
  return function fuzz(data) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      check(syntax, data);
    } catch (err) {
      Error.stackTraceLimit = 30;
      try {
        check(syntax, data);
      } catch (again) {
        throw again;
      }
      throw err;
    } finally {
      Error.stackTraceLimit = limit;
    }
  };
}
