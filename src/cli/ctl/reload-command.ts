import { Command, Option } from 'clipanion';
import type { ReloadResult } from '../../supervisor/api.js';
import { table } from '../format.js';
import { CtlCommand } from './base-command.js';
import { withProgress } from './progress.js';

/** `gracevisorctl reload [--json]`: re-read the daemon's config; a config that fails to load changes nothing. */
export class ReloadCommand extends CtlCommand {
  static override paths = [['reload']];
  static override usage = Command.Usage({
    description: 're-read the config: add new apps, remove gone ones, restart changed ones hitlessly',
    details: 'Unchanged apps are left alone. A config that fails to load is reported with file:line:col for every problem, nothing is changed, and the command exits 1. Same as sending SIGHUP to gracevisord.',
  });
  json = Option.Boolean('--json', false, { description: 'Print what changed as JSON' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Print nothing but errors (for scripts)' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected async run(): Promise<number> {
    const client = await this.client();
    const result = await withProgress(client, { enabled: this.tty && !this.quiet && !this.json, paint: this.paint, write: (l) => this.context.stdout.write(l) }, () => client.reload());
    if (this.quiet) return 0;
    this.out(result, (r: ReloadResult) => table([
      ['added:', r.added.join(', ') || '-'],
      ['removed:', r.removed.join(', ') || '-'],
      ['changed:', r.changed.join(', ') || '-'],
      ['unchanged:', r.unchanged.join(', ') || '-'],
    ]));
    return 0;
  }
}
