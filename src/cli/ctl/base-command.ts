/**
 * What every gracevisorctl command shares: the options that say where the daemon is, `--json`,
 * and one way of reporting failure — `gracevisorctl: GV_ERR_…: message` on stderr and exit 1
 * (usage errors exit 2, see ../gracevisorctl.ts).
 */
import { Command, Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { GvConfigError, GvError } from '../../errors.js';
import { ControlClient } from '../../control/client.js';
import { resolveTarget } from './target.js';

/** Exit status of a command that ran and failed (the daemon refused, was unreachable, a restart failed). */
export const EXIT_FAILED = 1;
/** Exit status of a command line that does not parse. */
export const EXIT_USAGE = 2;

/** Base class of every gracevisorctl command. Subclasses implement {@link run}. */
export abstract class CtlCommand extends Command {
  socket = Option.String('--socket', { description: 'Control socket of the daemon (default: the socket in the default run_dir)' });
  host = Option.String('--host', { description: 'Reach the daemon over TCP at this host (needs --port)' });
  port = Option.String('--port', { description: 'TCP port of the daemon\'s control API', validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(1, 65535)]) });
  token = Option.String('--token', { env: 'GRACEVISOR_TOKEN', description: 'Bearer token for TCP (default: rpc.token/token_file of --conf, else <run_dir>/control.token)' });
  conf = Option.String('--conf', { description: 'Read the socket, TCP address and token from this gracevisord config' });

  /** True when the command prints data as JSON. Subclasses with `--json` override it. */
  protected get jsonOutput(): boolean {
    return false;
  }

  /** A client pointed where the options say. */
  protected async client(): Promise<ControlClient> {
    return new ControlClient(await resolveTarget({ socket: this.socket, host: this.host, port: this.port, token: this.token, conf: this.conf }));
  }

  /** Print a value: as JSON when `--json`, else through `human`. */
  protected out<T>(value: T, human: (v: T) => string): void {
    this.context.stdout.write(this.jsonOutput ? JSON.stringify(value, null, 2) + '\n' : human(value));
  }

  /** Report an error the way every command does. */
  protected fail(err: unknown): number {
    if (err instanceof UsageError) {
      this.context.stderr.write(`gracevisorctl: ${err.message} (see gracevisorctl ${this.path.join(' ')} --help)\n`);
      return EXIT_USAGE;
    }
    const gv = GvError.from(err, { stack: true });
    if (this.jsonOutput) {
      const wire = gv instanceof GvConfigError ? { ...gv.toJSON(), errors: gv.errors.map((e) => e.toJSON()) } : gv.toJSON();
      this.context.stdout.write(JSON.stringify({ error: wire }, null, 2) + '\n');
    }
    if (gv instanceof GvConfigError) {
      // Compiler style, one problem a line, so editors and `grep` can jump to file:line:col.
      // Only a message's first line: parsers may add a code frame below it.
      for (const e of gv.errors) this.context.stderr.write(new GvError(e.code, e.message.split('\n')[0]!, e.pos ? { pos: e.pos } : {}).format() + '\n');
      this.context.stderr.write(`gracevisorctl: ${gv.code}: the configuration did not load (${gv.errors.length} problem${gv.errors.length === 1 ? '' : 's'}); nothing was changed\n`);
    } else {
      this.context.stderr.write(`gracevisorctl: ${gv.format()}\n`);
    }
    return EXIT_FAILED;
  }

  /** The command's work; resolves with the exit status. */
  protected abstract run(): Promise<number>;

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (err) {
      return this.fail(err);
    }
  }
}
