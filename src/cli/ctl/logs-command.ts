import { Command, Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { CtlCommand } from './base-command.js';

/**
 * `gracevisorctl logs [APP] [-f] [-n N] [--stdout | --stderr] [--daemon]`: an app's output, stdout and
 * stderr merged in time order (each line carries its time, instance and stream); without an app,
 * every app's, each line marked with its app (like `pm2 logs`); `--daemon`, the daemon's own log.
 */
export class LogsCommand extends CtlCommand {
  static override paths = [['logs']];
  static override usage = Command.Usage({
    description: 'print the last lines of an app\'s output (or every app\'s, or the daemon\'s), and with -f keep following it through log rotation',
    details: 'With APP: its stdout and stderr merged in time order (--stdout or --stderr for one of them). Without APP: every app, each line marked with its app. --daemon: the daemon\'s own log. Lines carry their time, instance and stream unless the app\'s logger has log_format raw.',
    examples: [['Follow one app', 'gracevisorctl logs web -f'], ['Last 100 lines of stderr', 'gracevisorctl logs web -n 100 --stderr'], ['Every app, following', 'gracevisorctl logs -f'], ['The daemon\'s log', 'gracevisorctl logs --daemon -n 50']],
  });
  follow = Option.Boolean('-f,--follow', false, { description: 'Keep printing what is written until interrupted' });
  lines = Option.String('-n,--lines', { description: 'How many lines from the end to print first (default 10)', validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(0, 100_000)]) });
  stdout = Option.Boolean('--stdout', false, { description: 'Only the stdout log' });
  stderr = Option.Boolean('--stderr', false, { description: 'Only the stderr log' });
  daemon = Option.Boolean('--daemon', false, { description: 'The daemon\'s own log instead of an app\'s' });
  app = Option.String({ required: false, name: 'APP' });

  protected override get readOnly(): boolean {
    return true;
  }

  protected async run(): Promise<number> {
    if (this.stdout && this.stderr) throw new UsageError('give --stdout or --stderr, not both (without either, both are merged)');
    if (this.daemon && (this.app !== undefined || this.stdout || this.stderr)) throw new UsageError('--daemon takes no APP, --stdout or --stderr');
    const client = await this.client();
    const base = { n: this.lines ?? 10, follow: this.follow };
    const opts = { ...base, stream: this.stdout ? 'stdout' as const : this.stderr ? 'stderr' as const : 'both' as const };
    const stream = this.daemon ? await client.daemonLogs(base) : this.app === undefined ? await client.allLogs(opts) : await client.logs(this.app, opts);
    // Ctrl-C while following is the normal way out, not an error.
    const stop = (): void => { stream.destroy(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for await (const chunk of stream) {
        if (!this.context.stdout.write(chunk)) await new Promise((r) => this.context.stdout.once('drain', r));
      }
    } catch {
      // Destroyed by a signal, or the daemon went away: what was printed stands.
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  }
}
