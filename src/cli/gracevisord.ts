#!/usr/bin/env node
/**
 * gracevisord: the daemon, in the foreground (the shape systemd wants).
 *   gracevisord --conf PATH            run (PATH: a file, or a folder with gracevisor.conf or gracevisor.yaml)
 *   gracevisord --conf PATH --check    check the config like `nginx -t`: `configuration ok`, or every error, exit 0/1
 *   gracevisord --conf PATH --print    print the resolved config as JSON
 *   gracevisord --version | --help | help
 * By default gracevisord is two processes: the holder (./holder.ts), which keeps the listening sockets
 * and the apps' output pipes and restarts the daemon if it dies, and the daemon itself (./daemon.ts),
 * started by the holder as `gracevisord --worker MODE …` (hidden). `--no-holder` runs the daemon alone
 * in this process: nothing survives its crash, and `upgrade` is refused.
 */
import { Command, Option } from 'clipanion';
import { CtlCli as NamedCli } from './ctl/help-command.js';
import { checkConfig } from './check-config.js';
import { VERSION } from '../version.js';
import { runDaemon } from './daemon.js';
import { Holder } from './holder.js';
import { HolderLink } from './holder-link.js';

/** Where gracevisord looks for its config when --conf is not given. */
const DEFAULT_CONF = '/etc/gracevisor';

class DaemonCommand extends Command {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'supervise apps and proxy to them, restarting without dropping a request',
    details: 'Runs in the foreground. SIGTERM/SIGINT stop every app gracefully and exit 0 (a second one kills every instance at once and exits 1); SIGHUP reloads the configuration; SIGUSR2 upgrades (like `gracevisorctl upgrade`). gracevisord runs as two processes: this one, the holder, keeps every listening socket and the output pipes of the apps and starts the daemon beside it, again at once if it dies (the apps keep running and connections wait meanwhile); `--no-holder` runs the daemon alone. The control API listens on rpc.socket (mode 0600) and, when rpc.host/rpc.port are set, on TCP with a token. Under systemd (`Type=notify`, NOTIFY_SOCKET set) it sends READY=1 once every app serves, RELOADING=1/READY=1 around a reload and STOPPING=1 at shutdown.\n\nExit status: 0 stopped as asked (or --check found no problem), 1 the configuration did not load, the daemon could not start, or a second signal forced it down, 2 the command line does not parse.\n\n`gracevisord -h` (`--help`, `help`) prints this.',
    examples: [['Run with the demo config', 'gracevisord --conf conf/'], ['Check a config', 'gracevisord --conf /etc/gracevisor --check']],
  });
  conf = Option.String('--conf', DEFAULT_CONF, { description: `Config file, or a folder holding gracevisor.conf or gracevisor.yaml (default ${DEFAULT_CONF})` });
  check = Option.Boolean('--check', false, { description: 'Check the configuration, print `configuration ok` or every error with file:line:col, and exit 0 or 1' });
  print = Option.Boolean('--print', false, { description: 'Print the resolved configuration as JSON and exit (1 if it does not load)' });
  version = Option.Boolean('-v,--version', false, { description: 'Print the version and exit' });
  noHolder = Option.Boolean('--no-holder', false, { description: 'Run the daemon alone in this process: no holder keeps the sockets and apps across a crash, and `gracevisorctl upgrade` is refused' });
  worker = Option.String('--worker', { hidden: true });

  async execute(): Promise<number> {
    if (this.version) {
      this.context.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (this.check || this.print) {
      const r = await checkConfig(this.conf, this.print);
      this.context.stdout.write(r.stdout);
      this.context.stderr.write(r.stderr);
      return r.exitCode;
    }
    if (this.worker !== undefined) {
      if (!process.send) {
        this.context.stderr.write('gracevisord: --worker is for the holder only (run gracevisord without it)\n');
        return 2;
      }
      return runDaemon(this.conf, { stderr: this.context.stderr }, new HolderLink());
    }
    if (this.noHolder) return runDaemon(this.conf, { stderr: this.context.stderr });
    return new Holder(['--conf', this.conf]).start();
  }
}

/** `gracevisord help`: the same as --help. */
class HelpCommand extends Command {
  static override paths = [['help'], ['-h'], ['--help']];
  async execute(): Promise<number> {
    this.context.stdout.write(this.cli.usage(DaemonCommand, { detailed: true }));
    return 0;
  }
}

const cli = new NamedCli({ binaryLabel: 'gracevisord', binaryName: 'gracevisord', binaryVersion: VERSION, enableColors: process.stdout.isTTY === true });
cli.register(DaemonCommand);
cli.register(HelpCommand);
const context = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
let code: number;
try {
  code = await cli.run(cli.process(process.argv.slice(2), context), context);
} catch (err) {
  process.stderr.write(cli.error(err, { colored: false }));
  code = 2;
}
// Exit explicitly: a library handle left open (a timer, a stray socket) must not keep a stopped daemon alive.
process.exit(code);
