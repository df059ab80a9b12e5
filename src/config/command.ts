/**
 * How an app's `command` becomes argv: split the way a shell splits words (quotes keep words
 * together; `$VAR` and glob characters are passed as written, not expanded), but never run by a
 * shell. Shell syntax — an operator (`|`, `&&`, `;`, `>`…), a backtick or `$(…)` — is refused, at
 * `--check` and reload (the config layer's check) as at spawn: write `sh -c '…'` to get a shell.
 */
import { parse } from 'shell-quote';

/** The command's argv, or why it cannot be run without a shell. */
export type SplitResult = { argv: string[]; shell: null } | { argv: null; shell: string };

/** Split `command` (see the file comment). `shell` names the syntax that needs a shell; an empty command has an empty argv. */
export function splitCommandWords(command: string): SplitResult {
  // Keep `$` literal: the env callback returns the variable reference unchanged. shell-quote throws
  // on a `${…}` it cannot read ("Bad substitution", found by the config fuzzer): that is shell syntax too.
  let words: ReturnType<typeof parse>;
  try {
    words = parse(command, (name: string) => `$${name}`);
  } catch {
    return { argv: null, shell: '${…}' };
  }
  const argv: string[] = [];
  for (const w of words) {
    if (typeof w === 'string') {
      if (w.includes('`')) return { argv: null, shell: '`' };
      argv.push(w);
      continue;
    }
    if ('comment' in w) break;
    if ('op' in w && w.op === 'glob') {
      argv.push(w.pattern);
      continue;
    }
    const op = 'op' in w ? (w.op === '(' && argv.at(-1) === '$' ? '$(' : w.op) : JSON.stringify(w);
    return { argv: null, shell: op };
  }
  return { argv, shell: null };
}
