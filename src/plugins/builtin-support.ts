/**
 * What the built-in health checks and alerters share: checking a type's own options (unknown ones
 * refused, naming the option so the config error lands on it), and running a command bounded by an
 * AbortSignal, its whole process group killed at the abort so a script's children do not outlive it.
 */
import { spawn } from 'node:child_process';
import { suggest } from '../config/suggest.js';
import { GvError, type ErrorCode, type SourcePosition } from '../errors.js';

/** The option checks of one kind of type (`healthcheck http: …`, `alert webhook: …`). */
export function optionChecks(kind: 'healthcheck' | 'alert', code: ErrorCode): {
  bad(type: string, msg: string, pos: SourcePosition, option: string): never;
  rejectUnknown(type: string, options: Record<string, unknown>, known: readonly string[], pos: SourcePosition): void;
} {
  const bad = (type: string, msg: string, pos: SourcePosition, option: string): never => {
    throw new GvError(code, `${kind} ${type}: ${msg}`, { pos, details: { type, option } });
  };
  return {
    bad,
    rejectUnknown(type, options, known, pos) {
      for (const key of Object.keys(options)) {
        if (known.includes(key)) continue;
        const suggestion = suggest(key, known);
        const hint = suggestion ? `; did you mean ${suggestion}?` : known.length ? ` (known: ${known.join(', ')})` : ` (this ${kind} type takes none)`;
        bad(type, `unknown option ${key}${hint}`, pos, key);
      }
    },
  };
}

/** How a bounded command ended. */
export type CommandEnd = { exit: number | null; signal: string | null; aborted: boolean } | { error: string };

/** Run `argv` (no shell) with `env` added, `stdin` written to it when given; killed with its group when `signal` aborts. */
export function runCommand(argv: readonly string[], opts: { env: Record<string, string>; stdin?: string; signal: AbortSignal }): Promise<CommandEnd> {
  return new Promise((resolve) => {
    if (argv.length === 0) {
      resolve({ error: 'no command' });
      return;
    }
    if (opts.signal.aborted) {
      resolve({ exit: null, signal: null, aborted: true });
      return;
    }
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'ignore', 'ignore'],
      detached: true,
      env: { ...process.env, ...opts.env },
    });
    let settled = false;
    const onAbort = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const settle = (end: CommandEnd): void => {
      opts.signal.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      resolve(end);
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? err.message }));
    child.once('exit', (code, sig) => settle({ exit: code, signal: sig, aborted: opts.signal.aborted }));
    if (opts.stdin !== undefined && child.stdin) {
      child.stdin.on('error', () => {}); // a command that does not read its stdin is its own business
      child.stdin.end(opts.stdin);
    }
  });
}
