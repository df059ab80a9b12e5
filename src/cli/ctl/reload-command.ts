import { Command, Option } from 'clipanion';
import type { UpgradeBody } from '../../control/wire.js';
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

/** `gracevisorctl upgrade [--json]`: replace the running daemon with the gracevisord on disk now; apps and connections stay. */
export class UpgradeCommand extends CtlCommand {
  static override paths = [['upgrade']];
  static override usage = Command.Usage({
    description: 'replace the daemon with the gracevisord installed now, keeping every app and connection',
    details: 'The holder starts the gracevisord on disk beside the running daemon; once its config loads, the running one freezes, the new one adopts the instances (same pids) and serves on the same sockets, and the old one finishes its open connections and exits. If the new daemon fails before it serves, the old one carries on and the command exits 1 with its error. A second upgrade during one is refused. Same as sending SIGUSR2 to gracevisord. Not available with `gracevisord --no-holder`.',
  });
  json = Option.Boolean('--json', false, { description: 'Print the old and new daemon pids and versions as JSON' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Print nothing but errors (for scripts)' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected async run(): Promise<number> {
    const client = await this.client();
    const r = await client.upgrade();
    if (this.quiet) return 0;
    this.out(r, (u: UpgradeBody) => `upgraded in ${u.durationMs}ms: gracevisord ${u.from.version} (pid ${u.from.pid}) -> ${u.to.version} (pid ${u.to.pid})\n`);
    return 0;
  }
}
