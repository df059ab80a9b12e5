import { Command, Option } from 'clipanion';
import { formatPlugins } from '../format.js';
import { CtlCommand } from './base-command.js';

/** `gracevisorctl plugins list [--json]`: every registered id, its kind, its plugin, and whether it is available. */
export class PluginsListCommand extends CtlCommand {
  static override paths = [['plugins', 'list']];
  static override usage = Command.Usage({ description: 'list every engine, health check and alerter the daemon has, and whether each is available here (and why not)' });
  json = Option.Boolean('--json', false, { description: 'Print the list as JSON' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected async run(): Promise<number> {
    this.out(await (await this.client()).plugins(), formatPlugins);
    return 0;
  }
}
