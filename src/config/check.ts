/**
 * What `gracevisord --conf PATH --check` and `--print` do, as a function the CLI wires in: load the
 * config, then report like `nginx -t`. Pure of process state: it returns the text and exit status.
 */
import { GvConfigError, GvError } from '../errors.js';
import { loadConfig, type LoadOptions } from './load.js';
import type { Config } from './model.js';

/** Options of {@link runCheck}. */
export interface CheckOptions extends LoadOptions {
  /** Print the resolved model as JSON instead of `configuration ok`. */
  print: boolean;
}

/** The outcome of a check: what to write where, and the exit status. */
export interface CheckResult {
  exitCode: 0 | 1;
  stdout: string;
  stderr: string;
}

/**
 * Load the config at `path`. Success: `configuration ok` (or, with `print`, the JSON of
 * {@link configToJson}) and exit 0, with a `warning: file:line:col: …` line on stderr for anything
 * suspicious. Failure: one `file:line:col: GV_ERR_…: message` line per problem on stderr and exit 1.
 */
export async function runCheck(path: string, opts: CheckOptions): Promise<CheckResult> {
  const { print, ...loadOpts } = opts;
  const warnings: string[] = [];
  const onWarning = (w: GvError): void => void warnings.push(`warning: ${oneLine(w)}`);
  try {
    const config = await loadConfig(path, { ...loadOpts, onWarning });
    return { exitCode: 0, stdout: print ? configToJson(config) + '\n' : 'configuration ok\n', stderr: warnings.map((w) => w + '\n').join('') };
  } catch (err) {
    const errors = err instanceof GvConfigError ? err.errors : [GvError.from(err, { stack: true })];
    return { exitCode: 1, stdout: '', stderr: [...warnings, ...errors.map(oneLine)].join('\n') + '\n' };
  }
}

/** `file:line:col: CODE: message`, with only the message's first line: parsers sometimes add a code frame below. */
function oneLine(e: GvError): string {
  return new GvError(e.code, e.message.split('\n')[0]!, e.pos ? { pos: e.pos } : {}).format();
}

/**
 * The resolved model as JSON for `--print`: two-space indent, keys in a stable order (the model's
 * own order; open healthcheck options sorted by the resolver), and without `file` and the apps'
 * `source` positions, so the same setup written in either syntax prints the same text.
 */
export function configToJson(config: Config): string {
  const { file: _file, apps, ...rest } = config;
  void _file;
  const plain = { ...rest, apps: apps.map(({ source: _source, ...app }) => app) };
  return JSON.stringify(plain, null, 2);
}
