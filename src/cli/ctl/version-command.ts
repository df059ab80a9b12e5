import { Command, Option } from 'clipanion';
import { VERSION } from '../../version.js';
import { CtlCommand } from './base-command.js';

/** `gracevisorctl version [--json]`: this client's version and the running daemon's. */
export class VersionCommand extends CtlCommand {
  static override paths = [['version']];
  static override usage = Command.Usage({ description: 'print the versions of gracevisorctl and of the running gracevisord (exits 1 when the daemon is unreachable)' });
  json = Option.Boolean('--json', false, { description: 'Print the versions as JSON' });

  protected override get readOnly(): boolean {
    return true;
  }

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected async run(): Promise<number> {
    if (!this.json) this.context.stdout.write(`gracevisorctl ${VERSION}\n`);
    const daemon = await (await this.client()).version();
    this.out({ gracevisorctl: VERSION, gracevisord: daemon }, (v) => `gracevisord ${v.gracevisord.version} (node ${v.gracevisord.node}, pid ${v.gracevisord.pid}${v.gracevisord.holder ? `, holder pid ${v.gracevisord.holder}` : ''})\n`);
    return 0;
  }
}
