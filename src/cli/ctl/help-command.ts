/**
 * Help and completion: `gracevisorctl help [COMMAND…]`, help text whose placeholders say what goes
 * there (`--conf PATH`, `[APP…]`, not Clipanion's `#0` and `...`), `gracevisorctl completion
 * bash|zsh` (commands, options, files after --conf/--socket, and app names from the daemon or the
 * config), and the hidden `__apps` the completion asks for the names.
 */
import { Cli, Command, Option } from 'clipanion';
import { DEFAULT_READ_BOUNDS, loadConfig } from '../../config/load.js';
import { CtlCommand, EXIT_USAGE } from './base-command.js';

/** What each option's value is, as help shows it. */
const PLACEHOLDERS: Record<string, string> = {
  '--socket': 'PATH',
  '--conf': 'PATH',
  '--host': 'HOST',
  '--port': 'PORT',
  '--token': 'TOKEN',
  '--lines': 'N',
  '--interval': 'SECONDS',
};

/** Options whose value is a file (completed as one). */
const FILE_OPTIONS = ['--socket', '--conf'];
/** Options whose value is anything else (completed as nothing). */
const VALUE_OPTIONS = ['--host', '--port', '--token', '-n', '--lines', '--interval'];
/** What a command's arguments are: app names (`all` too for the batch commands), or a file. */
const ARGUMENTS: Record<string, 'apps' | 'apps+all' | 'files' | 'shells' | 'commands'> = {
  start: 'apps+all', stop: 'apps+all', restart: 'apps+all', kill: 'apps+all', remove: 'apps+all',
  status: 'apps', logs: 'apps', events: 'apps', 'alerts test': 'apps', add: 'files', completion: 'shells', help: 'commands',
};

/** An option line of a command's help: `  --conf #0    Read the socket…`. */
const OPTION_LINE = /^ {2}(-\S*(?: #0)?) {2,}(\S.*)$/;

/**
 * Clipanion's usage text with named placeholders (`--conf PATH`; `[APP…]`, or `[COMMAND…]` for
 * help, for a list of arguments), option tables re-aligned for the longer names, and the hidden
 * commands left out of "did you mean".
 */
export function namePlaceholders(text: string): string {
  const named = (s: string): string => s.replace(/((?:-\w,)?(--[\w-]+)) #0/g, (_m, names: string, long: string) => `${names} ${PLACEHOLDERS[long] ?? 'VALUE'}`);
  // Hidden commands out; a command with several paths (help, -h, --help) listed once.
  const lines = text.split('\n').filter((l, i, all) => !/gracevisorctl __/.test(l) && !(l !== '' && l === all[i - 1]));
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!OPTION_LINE.test(lines[i]!)) {
      out.push(named(lines[i]!).replace(/(gracevisorctl help\b.*?|\S) \.\.\.(?=$|\x1b)/, (_m, before: string) => `${before} ${before.includes('gracevisorctl help') ? '[COMMAND…]' : '[APP…]'}`));
      continue;
    }
    // A run of option lines: one column for the descriptions again.
    const block: [string, string][] = [];
    for (; i < lines.length && OPTION_LINE.test(lines[i]!); i++) {
      const m = OPTION_LINE.exec(lines[i]!)!;
      block.push([named(m[1]!), m[2]!]);
    }
    i--;
    const width = Math.max(...block.map(([d]) => d.length));
    for (const [d, desc] of block) out.push(`  ${d.padEnd(width)}    ${desc}`);
  }
  // "did you mean one of": numbered again without the hidden ones.
  let n = 0;
  const width = String(out.filter((l) => /^ *\d+\. gracevisorctl/.test(l)).length - 1).length;
  return out.map((l) => (/^ *\d+\. gracevisorctl/.test(l) ? l.replace(/^ *\d+\./, `${String(n++).padStart(width + 1)}.`) : l)).join('\n');
}

/** The gracevisorctl Cli: Clipanion's, with help and errors that name their placeholders. */
export class CtlCli extends Cli {
  override usage(...args: Parameters<Cli['usage']>): string {
    return namePlaceholders(super.usage(...args));
  }

  override error(...args: Parameters<Cli['error']>): string {
    return namePlaceholders(super.error(...args));
  }
}

/** `gracevisorctl help [COMMAND…]` (and -h, --help): the command list, or one command's help. */
export class HelpCommand extends Command {
  static override paths = [['help'], ['-h'], ['--help']];
  static override usage = Command.Usage({
    description: 'print the list of commands, or the help of one (`gracevisorctl help restart`)',
  });
  command = Option.Rest({ name: 'COMMAND' });

  async execute(): Promise<number> {
    if (this.command.length === 0) {
      this.context.stdout.write(this.cli.usage());
      return 0;
    }
    // `help restart` is `restart --help`; an unknown command is a usage error like any other.
    const argv = [...this.command, '--help'];
    try {
      this.cli.process(argv);
    } catch (err) {
      this.context.stderr.write(this.cli.error(err as Error));
      return EXIT_USAGE;
    }
    return this.cli.run(argv);
  }
}

/** One command as the completion scripts see it. */
interface CompletionEntry {
  path: string;
  options: string[];
}

/** Every command's path and option names, from the registered commands' own definitions. */
function completionTable(cli: { definitions(): ReturnType<Cli['definitions']> }): CompletionEntry[] {
  return cli.definitions().map((d) => ({
    path: d.path.split(' ').slice(1).join(' '),
    options: d.options.flatMap((o) => o.definition.split(' ')[0]!.split(',')),
  })).filter((e) => e.path !== '' && !e.path.startsWith('-'));
}

function shellWords(words: string[]): string {
  return words.map((w) => w.replace(/[^\w@%+=:,./-]/g, '')).join(' ');
}

/** The bash completion script (zsh runs it through bashcompinit). */
export function bashCompletion(cli: { definitions(): ReturnType<Cli['definitions']> }): string {
  const table = completionTable(cli);
  const firstWords = [...new Set(table.map((e) => e.path.split(' ')[0]!))].sort();
  const cases: string[] = [];
  // Multi-word commands first offer their next word.
  const groups = new Map<string, string[]>();
  for (const e of table) {
    const parts = e.path.split(' ');
    if (parts.length > 1) groups.set(parts[0]!, [...(groups.get(parts[0]!) ?? []), parts.slice(1).join(' ')]);
  }
  for (const e of table) {
    const args = ARGUMENTS[e.path] ?? 'none';
    const words = args === 'shells' ? ' "bash zsh"' : args === 'commands' ? ` "${firstWords.join(' ')}"` : '';
    cases.push(`    "${e.path}"|"${e.path} "*) _gracevisorctl_args ${args} "${shellWords(e.options)}"${words} ;;`);
  }
  for (const [first, rest] of groups) cases.push(`    "${first}") COMPREPLY=( $(compgen -W "${shellWords(rest)}" -- "$cur") ) ;;`);
  return `# gracevisorctl completion for bash. Load it in this shell:
#   source <(gracevisorctl completion bash)
# or for every shell: gracevisorctl completion bash > /etc/bash_completion.d/gracevisorctl
_gracevisorctl_args() {
  # $1: what the arguments are (apps, apps+all, files, shells, commands, none); $2: the command's
  # options; $3: the words of shells and commands.
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$2" -- "$cur") )
  elif [[ "$1" == apps* ]]; then
    local apps
    apps="$(command "\${COMP_WORDS[0]}" __apps "\${where[@]}" 2>/dev/null)"
    [[ "$1" == apps+all ]] && apps="$apps all"
    COMPREPLY=( $(compgen -W "$apps" -- "$cur") )
  elif [[ "$1" == files ]]; then
    COMPREPLY=( $(compgen -f -- "$cur") )
  elif [[ "$1" == shells || "$1" == commands ]]; then
    COMPREPLY=( $(compgen -W "$3" -- "$cur") )
  fi
}
_gracevisorctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    ${FILE_OPTIONS.join('|')}) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
    ${VALUE_OPTIONS.join('|')}) COMPREPLY=(); return 0 ;;
  esac
  # The command words so far, and the options that say where the daemon is (for __apps).
  local cmd="" i w where=()
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${[...FILE_OPTIONS, '--host', '--port', '--token'].join('|')}) where+=( "$w" "\${COMP_WORDS[i+1]}" ); (( i++ )) ;;
      ${VALUE_OPTIONS.filter((o) => !['--host', '--port', '--token'].includes(o)).join('|')}) (( i++ )) ;;
      -*) ;;
      *) cmd="\${cmd:+$cmd }$w" ;;
    esac
  done
  case "$cmd" in
    "") COMPREPLY=( $(compgen -W "${firstWords.join(' ')}" -- "$cur") ) ;;
${cases.join('\n')}
    *) COMPREPLY=() ;;
  esac
  return 0
}
complete -F _gracevisorctl gracevisorctl
`;
}

/** The zsh completion script: the bash one, through zsh's bashcompinit. */
export function zshCompletion(cli: { definitions(): ReturnType<Cli['definitions']> }): string {
  return `# gracevisorctl completion for zsh. Load it in this shell:
#   source <(gracevisorctl completion zsh)
# or add that line to ~/.zshrc (after compinit).
autoload -U +X compinit && { (( $+functions[compdef] )) || compinit }
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(cli).split('\n').filter((l) => !l.startsWith('#')).join('\n')}`;
}

/** `gracevisorctl completion bash|zsh`: print the completion script for that shell. */
export class CompletionCommand extends Command {
  static override paths = [['completion']];
  static override usage = Command.Usage({
    description: 'print the shell completion script for bash or zsh (commands, options, files and app names)',
    examples: [['Completion in this bash', 'source <(gracevisorctl completion bash)'], ['In every zsh', 'echo \'source <(gracevisorctl completion zsh)\' >> ~/.zshrc']],
  });
  shell = Option.String({ name: 'bash|zsh' });

  async execute(): Promise<number> {
    if (this.shell !== 'bash' && this.shell !== 'zsh') {
      this.context.stderr.write(`gracevisorctl: no completion for ${this.shell}: bash or zsh\n`);
      return EXIT_USAGE;
    }
    this.context.stdout.write(this.shell === 'bash' ? bashCompletion(this.cli) : zshCompletion(this.cli));
    return 0;
  }
}

/**
 * `gracevisorctl __apps [--conf …]`: app names, one a line, for the completion scripts: the running
 * daemon's, else those of the config --conf names. Prints nothing (and exits 1) when neither answers.
 */
export class AppNamesCommand extends CtlCommand {
  static override paths = [['__apps']];

  protected override get readOnly(): boolean {
    return true;
  }

  protected async run(): Promise<number> {
    let names: string[] = [];
    try {
      // The note a read-only fallback prints is not for a completion.
      const client = await this.client({ quiet: true, timeoutMs: 2000 });
      names = (await client.status()).map((a) => a.name);
    } catch {
      if (this.conf !== undefined) names = (await loadConfig(this.conf, { bounds: DEFAULT_READ_BOUNDS }).catch(() => null))?.apps.map((a) => a.name) ?? [];
    }
    if (names.length === 0) return 1;
    this.context.stdout.write(names.join('\n') + '\n');
    return 0;
  }

  protected override fail(): number {
    return 1;
  }
}
