/**
 * The commands that act on one app: start, stop, kill, restart (one or --all), add, remove.
 */
import { Command, Option, UsageError } from 'clipanion';
import { resolve } from 'node:path';
import type { AppStatus, RestartResult } from '../../supervisor/api.js';
import { CtlCommand } from './base-command.js';

/** A command that prints data and so takes `--json`. */
abstract class DataCommand extends CtlCommand {
  json = Option.Boolean('--json', false, { description: 'Print the result as JSON' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }
}

const appLine = (app: AppStatus): string => `${app.name}: ${app.state}\n`;

/** `gracevisorctl start APP`. */
export class StartCommand extends DataCommand {
  static override paths = [['start']];
  static override usage = Command.Usage({ description: 'start a stopped app' });
  app = Option.String({ name: 'APP' });
  protected async run(): Promise<number> {
    this.out(await (await this.client()).start(this.app), appLine);
    return 0;
  }
}

/** `gracevisorctl stop APP`. */
export class StopCommand extends DataCommand {
  static override paths = [['stop']];
  static override usage = Command.Usage({ description: 'stop an app gracefully: drain, then stop; its public port stays open and answers 503 (http) or refuses (tcp)' });
  app = Option.String({ name: 'APP' });
  protected async run(): Promise<number> {
    this.out(await (await this.client()).stop(this.app), appLine);
    return 0;
  }
}

/** `gracevisorctl kill APP`. */
export class KillCommand extends DataCommand {
  static override paths = [['kill']];
  static override usage = Command.Usage({ description: 'SIGKILL every instance of an app now, without draining' });
  app = Option.String({ name: 'APP' });
  protected async run(): Promise<number> {
    this.out(await (await this.client()).kill(this.app), appLine);
    return 0;
  }
}

function restartLine(r: RestartResult): string {
  if (!r.ok) return `${r.app}: restart failed: ${r.error?.code ?? 'GV_ERR_RESTART_FAILED'}: ${r.error?.message ?? 'unknown error'} (the old instance keeps serving)\n`;
  return `${r.app}: restarted in ${r.durationMs}ms${r.coalesced ? ' (joined a restart already running)' : ''}, serving ${r.serving.join(', ') || 'nothing'}\n`;
}

/** `gracevisorctl restart APP|--all`: hitless; exits 1 when any restart failed. */
export class RestartCommand extends DataCommand {
  static override paths = [['restart']];
  static override usage = Command.Usage({
    description: 'restart an app (or every app) without dropping a request',
    details: 'Starts a new instance, waits until it is ready, switches traffic to it, drains the old one and stops it. If the new instance fails, the old one keeps serving and the command exits 1.',
    examples: [['One app', 'gracevisorctl restart web'], ['Every app', 'gracevisorctl restart --all']],
  });
  all = Option.Boolean('--all', false, { description: 'Restart every app' });
  app = Option.String({ required: false, name: 'APP' });
  protected async run(): Promise<number> {
    if (this.all === (this.app !== undefined)) throw new UsageError('give an APP or --all');
    const client = await this.client();
    const results = this.all ? await client.restartAll() : [await client.restart(this.app!)];
    this.out(this.all ? results : results[0]!, () => results.map(restartLine).join(''));
    if (results.some((r) => !r.ok)) {
      for (const r of results.filter((x) => !x.ok)) this.context.stderr.write(`gracevisorctl: ${r.error?.code ?? 'GV_ERR_RESTART_FAILED'}: ${r.app}: ${r.error?.message ?? 'restart failed'}\n`);
      return 1;
    }
    return 0;
  }
}

/** `gracevisorctl add FILE`: one app from a file of either syntax. */
export class AddCommand extends DataCommand {
  static override paths = [['add']];
  static override usage = Command.Usage({ description: 'add one app from a file (YAML or the block syntax) and start it' });
  file = Option.String({ name: 'FILE' });
  protected async run(): Promise<number> {
    // The daemon's working folder is not ours: send an absolute path.
    const app = await (await this.client()).add(resolve(this.file));
    this.out(app, (a) => `${a.name}: added (${a.engine} on ${a.address}), ${a.state}\n`);
    return 0;
  }
}

/** `gracevisorctl remove APP`. */
export class RemoveCommand extends DataCommand {
  static override paths = [['remove']];
  static override usage = Command.Usage({ description: 'drain and stop an app, close its listener, and forget it until the next reload names it again' });
  app = Option.String({ name: 'APP' });
  protected async run(): Promise<number> {
    const removed = await (await this.client()).remove(this.app);
    this.out({ removed }, (r) => `${r.removed}: removed\n`);
    return 0;
  }
}
