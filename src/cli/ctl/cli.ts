/**
 * The gracevisorctl command set and its runner; ../gracevisorctl.ts is the executable around it.
 * Exit status (docs/cli.md): 0 done, 1 the command failed (daemon unreachable, unknown app, refused,
 * a restart or reload that failed), 2 the command line does not parse, 3 `status`: an app asked
 * about (or, without names, any app) is not running.
 */
import { Builtins, type Cli } from 'clipanion';
import { VERSION } from '../../version.js';
import { EXIT_USAGE } from './base-command.js';
import { AlertsTestCommand } from './alerts-command.js';
import { AddCommand, KillCommand, RemoveCommand, RestartCommand, StartCommand, StopCommand } from './app-commands.js';
import { EventsCommand } from './events-command.js';
import { AppNamesCommand, CompletionCommand, CtlCli, HelpCommand } from './help-command.js';
import { LogsCommand } from './logs-command.js';
import { PluginsListCommand } from './plugins-command.js';
import { ReloadCommand, UpgradeCommand } from './reload-command.js';
import { StatusCommand } from './status-command.js';
import { VersionCommand } from './version-command.js';

/** Build the gracevisorctl CLI (exported for tests and for embedding). */
export function buildCtlCli(): Cli {
  const cli = new CtlCli({
    binaryLabel: 'gracevisorctl',
    binaryName: 'gracevisorctl',
    binaryVersion: VERSION,
    enableColors: process.stdout.isTTY === true,
  });
  for (const c of [StatusCommand, StartCommand, StopCommand, RestartCommand, KillCommand, ReloadCommand, UpgradeCommand, AddCommand, RemoveCommand, LogsCommand, EventsCommand, AlertsTestCommand, PluginsListCommand, VersionCommand, CompletionCommand, HelpCommand, AppNamesCommand]) cli.register(c);
  cli.register(Builtins.VersionCommand);
  return cli;
}

/** Run gracevisorctl with `argv` (without node and the script); resolves with the exit status. */
export async function runCtl(argv: string[]): Promise<number> {
  const cli = buildCtlCli();
  const context = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  let command;
  try {
    command = cli.process(argv, context);
  } catch (err) {
    // Clipanion prints usage errors to stdout; they belong on stderr, with status 2.
    process.stderr.write(cli.error(err, { colored: false }));
    return EXIT_USAGE;
  }
  return cli.run(command, context);
}

