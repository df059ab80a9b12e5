import { Command, Option } from 'clipanion';
import { formatStatus } from '../format.js';
import { CtlCommand } from './base-command.js';

/** `gracevisorctl status [APP] [--json]`: every app (or one) with its instances and engine counters. */
export class StatusCommand extends CtlCommand {
  static override paths = [['status']];
  static override usage = Command.Usage({
    description: 'show apps, their instances and engine counters',
    details: 'One block per app: engine and public address, state, restarts, open connections, requests and errors; then each instance with its id, pid, internal port, state, time in that state and last error. `*` marks the instances the engine sends new work to.',
    examples: [['Every app', 'gracevisorctl status'], ['One app as JSON', 'gracevisorctl status web --json']],
  });
  app = Option.String({ required: false, name: 'APP' });
  json = Option.Boolean('--json', false, { description: 'Print the status as JSON' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected async run(): Promise<number> {
    const apps = await (await this.client()).status(this.app);
    this.out(apps, formatStatus);
    return 0;
  }
}
