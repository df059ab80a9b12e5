import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import type { GvEvent } from '../../observe/index.js';
import { formatEvent } from '../format.js';
import { CtlCommand } from './base-command.js';

/** `gracevisorctl events [APP] [-f] [--json] [-n N]`: what the daemon did, as it happens (like `docker events`). */
export class EventsCommand extends CtlCommand {
  static override paths = [['events']];
  static override usage = Command.Usage({
    description: 'print the daemon\'s recent events, and with -f each new one as it happens',
    details: 'Every lifecycle event: instance states, switches, drains, restarts started, succeeded and failed, exits, health changes, reloads, alerts. With --json, one JSON object per line (the same shape the webhook alerter posts).',
    examples: [['Follow one app', 'gracevisorctl events web -f'], ['The last 20 as JSON lines', 'gracevisorctl events -n 20 --json']],
  });
  follow = Option.Boolean('-f,--follow', false, { description: 'Keep printing new events until interrupted' });
  json = Option.Boolean('--json', false, { description: 'One JSON object per line' });
  lines = Option.String('-n,--lines', { description: 'How many recent events to print first (default 20; 0 with -f: only new ones)', validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(0, 10_000)]) });
  app = Option.String({ required: false, name: 'APP' });

  protected override get readOnly(): boolean {
    return true;
  }

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected async run(): Promise<number> {
    const client = await this.client();
    const opts = { ...(this.app !== undefined && { app: this.app }), n: this.lines ?? 20 };
    const print = (e: GvEvent): void => void this.context.stdout.write(this.json ? JSON.stringify(e) + '\n' : formatEvent(e));
    if (!this.follow) {
      for (const e of await client.events(opts)) print(e);
      return 0;
    }
    const stream = await client.followEvents(opts);
    const stop = (): void => { stream.destroy(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let buf = '';
    try {
      for await (const chunk of stream) {
        buf += (chunk as Buffer).toString('utf8');
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data !== '') print(JSON.parse(data) as GvEvent);
        }
      }
    } catch {
      // Interrupted, or the daemon went away: what was printed stands.
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  }
}
