/**
 * What every gracevisorctl command shares: the options that say where the daemon is, `--json`,
 * colours on a terminal only (and never with NO_COLOR), and one way of reporting failure —
 * `gracevisorctl: GV_ERR_…: message` on stderr and exit 1 (usage errors exit 2, see ./cli.ts).
 */
import { Command, Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { GvConfigError, GvError } from '../../errors.js';
import { ControlClient } from '../../control/client.js';
import { findTarget } from './target.js';

/** Exit status of a command that ran and failed (the daemon refused, was unreachable, a restart failed). */
export const EXIT_FAILED = 1;
/** Exit status of a command line that does not parse. */
export const EXIT_USAGE = 2;
/** Exit status of `status` when an app asked about is not running (as `systemctl is-active` and `supervisorctl status` do). */
export const EXIT_NOT_RUNNING = 3;

/** ANSI styles, or none. */
export interface Paint {
  ok(s: string): string;
  bad(s: string): string;
  warn(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const NO_PAINT: Paint = { ok: (s) => s, bad: (s) => s, warn: (s) => s, dim: (s) => s, bold: (s) => s };
const ANSI: Paint = {
  ok: (s) => `\x1b[32m${s}\x1b[39m`,
  bad: (s) => `\x1b[31m${s}\x1b[39m`,
  warn: (s) => `\x1b[33m${s}\x1b[39m`,
  dim: (s) => `\x1b[2m${s}\x1b[22m`,
  bold: (s) => `\x1b[1m${s}\x1b[22m`,
};

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

  /**
   * True for a command that changes nothing: it may fall back to the last daemon's socket when
   * `--conf` does not load (and says so on stderr).
   */
  protected get readOnly(): boolean {
    return false;
  }

  /** True when stdout is a terminal: progress lines, live views and colours are for people. */
  protected get tty(): boolean {
    return (this.context.stdout as NodeJS.WriteStream).isTTY === true;
  }

  /** Colours, on a terminal only and never with NO_COLOR set. */
  protected get paint(): Paint {
    return this.tty && !this.jsonOutput && !process.env.NO_COLOR ? ANSI : NO_PAINT;
  }

  /** A client pointed where the options say; `quiet` keeps a fallback's note off stderr. */
  protected async client(opts: { quiet?: boolean; timeoutMs?: number } = {}): Promise<ControlClient> {
    const found = await findTarget({ socket: this.socket, host: this.host, port: this.port, token: this.token, conf: this.conf }, this.readOnly);
    if (found.note && opts.quiet !== true) this.context.stderr.write(found.note + '\n');
    return new ControlClient(found.target, opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {});
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
      // A read-only command changes nothing anyway; only one that could have is told nothing changed.
      const tail = this.readOnly ? '' : '; nothing was changed';
      this.context.stderr.write(`gracevisorctl: ${gv.code}: the configuration did not load (${gv.errors.length} problem${gv.errors.length === 1 ? '' : 's'})${tail}\n`);
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
