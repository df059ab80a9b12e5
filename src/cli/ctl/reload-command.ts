import { Command, Option } from 'clipanion';
import type { ReloadResult } from '../../supervisor/api.js';
import { table } from '../format.js';
import { CtlCommand } from './base-command.js';

/** `gracevisorctl reload [--json]`: re-read the daemon's config; a config that fails to load changes nothing. */
export class ReloadCommand extends CtlCommand {
  static override paths = [['reload']];
  static override usage = Command.Usage({
    description: 're-read the config: add new apps, remove gone ones, restart changed ones hitlessly',
    details: 'Unchanged apps are left alone. A config that fails to load is reported with file:line:col for every problem, nothing is changed, and the command exits 1. Same as sending SIGHUP to gracevisord.',
  });
  json = Option.Boolean('--json', false, { description: 'Print what changed as JSON' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected async run(): Promise<number> {
    const result = await (await this.client()).reload();
    this.out(result, (r: ReloadResult) => table([
      ['added:', r.added.join(', ') || '-'],
      ['removed:', r.removed.join(', ') || '-'],
      ['changed:', r.changed.join(', ') || '-'],
      ['unchanged:', r.unchanged.join(', ') || '-'],
    ]));
    return 0;
  }
}
