import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { CtlCommand } from './base-command.js';

/** `gracevisorctl logs APP [-f] [-n N] [--stderr]`: an app's output, like `tail [-f]`. */
export class LogsCommand extends CtlCommand {
  static override paths = [['logs']];
  static override usage = Command.Usage({
    description: 'print the last lines of an app\'s output, and with -f keep following it (through log rotation)',
    examples: [['Follow stdout', 'gracevisorctl logs web -f'], ['Last 100 lines of stderr', 'gracevisorctl logs web -n 100 --stderr']],
  });
  follow = Option.Boolean('-f,--follow', false, { description: 'Keep printing what the app writes until interrupted' });
  lines = Option.String('-n,--lines', { description: 'How many lines from the end to print first (default 10)', validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(0, 100_000)]) });
  stderr = Option.Boolean('--stderr', false, { description: 'Show the stderr log instead of stdout' });
  app = Option.String({ name: 'APP' });

  protected async run(): Promise<number> {
    const stream = await (await this.client()).logs(this.app, { n: this.lines ?? 10, follow: this.follow, stream: this.stderr ? 'stderr' : 'stdout' });
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
