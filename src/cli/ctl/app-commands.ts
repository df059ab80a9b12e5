/**
 * The commands that act on apps: start, stop, restart, kill and remove take one app, several
 * (`restart web api`), or every one (`all`, or `--all`), like supervisorctl; add takes a file. Named
 * apps are handled one after another, in the order given; `--all` restarts every app at once (as the
 * control API's restart-all does). On a terminal, restart, stop and remove print each step as it
 * happens (./progress.ts); `--quiet` prints nothing but errors.
 */
import { Command, Option, UsageError } from 'clipanion';
import { resolve } from 'node:path';
import type { ControlClient } from '../../control/client.js';
import type { AppStatus, RestartResult } from '../../supervisor/api.js';
import { GvError } from '../../errors.js';
import { CtlCommand, EXIT_FAILED } from './base-command.js';
import { withProgress } from './progress.js';

/** A command that prints data and so takes `--json`. */
abstract class DataCommand extends CtlCommand {
  json = Option.Boolean('--json', false, { description: 'Print the result as JSON' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }
}

/** A command over one or more apps, or all of them. */
abstract class AppsCommand extends DataCommand {
  all = Option.Boolean('--all', false, { description: 'Every app (the same as the name all)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Print nothing but errors (for scripts)' });
  apps = Option.Rest({ name: 'APP' });

  /** The apps named (every app for `all`/`--all`), in order, without repeats. UsageError when none. */
  protected async names(client: ControlClient): Promise<{ names: string[]; every: boolean }> {
    const every = this.all || this.apps.includes('all');
    if (!every && this.apps.length === 0) throw new UsageError(`give one or more APPs, or all`);
    if (every && this.apps.some((a) => a !== 'all')) throw new UsageError('give APPs or all, not both');
    if (every) return { names: (await client.status()).map((a) => a.name), every: true };
    return { names: [...new Set(this.apps)], every: false };
  }

  /** Write a line unless --quiet (JSON output goes through `out`). */
  protected say(line: string): void {
    if (!this.quiet && !this.json) this.context.stdout.write(line);
  }

  /**
   * `act` on each app in turn; prints each result; exits 1 when any failed (its error on stderr).
   * With --json: one app's result (or `{ error }`), or for several an array of results, a failed one
   * as `{ app, error }`.
   */
  protected async each<T>(act: (client: ControlClient, name: string) => Promise<T>, line: (r: T) => string, progress: boolean): Promise<number> {
    const client = await this.client();
    const { names, every } = await this.names(client);
    const results: (T | { app: string; error: ReturnType<GvError['toJSON']> })[] = [];
    let failed = 0;
    for (const name of names) {
      try {
        const r = await withProgress(client, { app: name, enabled: progress && this.tty && !this.quiet && !this.json, paint: this.paint, write: (l) => this.context.stdout.write(l) }, () => act(client, name));
        results.push(r);
        this.say(line(r));
      } catch (err) {
        failed++;
        if (!this.json) this.fail(err);
        else {
          const gv = GvError.from(err);
          this.context.stderr.write(`gracevisorctl: ${gv.format()}\n`);
          results.push({ app: name, error: gv.toJSON() });
        }
      }
    }
    if (this.json) {
      const single = names.length === 1 && !every;
      const one = results[0] as { app?: string; error?: unknown } | undefined;
      const doc = single ? (one && 'error' in one && one.error !== undefined && !('ok' in one) ? { error: one.error } : one ?? null) : results;
      this.context.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    }
    return failed > 0 ? EXIT_FAILED : 0;
  }
}

/** One app's state, after a command. */
function appLine(app: AppStatus): string {
  return `${app.name}: ${app.state}\n`;
}

/** `gracevisorctl start APP… | all`. */
export class StartCommand extends AppsCommand {
  static override paths = [['start']];
  static override usage = Command.Usage({ description: 'start apps that were stopped (or gave up)', examples: [['One app', 'gracevisorctl start web'], ['Every app', 'gracevisorctl start all']] });
  protected async run(): Promise<number> {
    return this.each((c, name) => c.start(name), appLine, false);
  }
}

/** `gracevisorctl stop APP… | all`. */
export class StopCommand extends AppsCommand {
  static override paths = [['stop']];
  static override usage = Command.Usage({ description: 'stop apps gracefully: drain, then stop; their public ports stay open and answer 503 (http) or refuse (tcp)' });
  protected async run(): Promise<number> {
    return this.each((c, name) => c.stop(name), appLine, true);
  }
}

/** `gracevisorctl kill APP… | all`. */
export class KillCommand extends AppsCommand {
  static override paths = [['kill']];
  static override usage = Command.Usage({ description: 'SIGKILL every instance of apps now, without draining' });
  protected async run(): Promise<number> {
    return this.each((c, name) => c.kill(name), appLine, false);
  }
}

/** `gracevisorctl remove APP… | all`. */
export class RemoveCommand extends AppsCommand {
  static override paths = [['remove']];
  static override usage = Command.Usage({ description: 'drain and stop apps, close their listeners, and forget them until the next reload names them again' });
  protected async run(): Promise<number> {
    return this.each(async (c, name) => ({ removed: await c.remove(name) }), (r) => `${r.removed}: removed\n`, true);
  }
}

function restartLine(r: RestartResult): string {
  if (!r.ok) return `${r.app}: restart failed: ${r.error?.code ?? 'GV_ERR_RESTART_FAILED'}: ${r.error?.message ?? 'unknown error'} (the old instance keeps serving)\n`;
  return `${r.app}: restarted in ${r.durationMs}ms${r.coalesced ? ' (joined a restart already running)' : ''}, serving ${r.serving.join(', ') || 'nothing'}\n`;
}

/** `gracevisorctl restart APP… | all | --all`: hitless; exits 1 when any restart failed. */
export class RestartCommand extends AppsCommand {
  static override paths = [['restart']];
  static override usage = Command.Usage({
    description: 'restart apps without dropping a request',
    details: 'Starts a new instance, waits until it is ready, switches traffic to it, drains the old one and stops it; on a terminal each step is printed as it happens. If the new instance fails, the old one keeps serving and the command exits 1. Named apps restart one after another; all (or --all) restarts every app at once.',
    examples: [['One app', 'gracevisorctl restart web'], ['Two, in turn', 'gracevisorctl restart web api'], ['Every app', 'gracevisorctl restart all']],
  });
  protected async run(): Promise<number> {
    const client = await this.client();
    const { every } = await this.names(client);
    let results: RestartResult[];
    if (every) {
      results = await withProgress(client, { enabled: this.tty && !this.quiet && !this.json, paint: this.paint, write: (l) => this.context.stdout.write(l) }, () => client.restartAll());
      if (this.json) this.context.stdout.write(JSON.stringify(results, null, 2) + '\n');
      else for (const r of results) this.say(restartLine(r));
    } else {
      results = [];
      const code = await this.each(async (c, name) => {
        const r = await c.restart(name);
        results.push(r);
        return r;
      }, restartLine, true);
      if (code !== 0 && results.every((r) => r.ok)) return code;
    }
    const failed = results.filter((r) => !r.ok);
    for (const r of failed) this.context.stderr.write(`gracevisorctl: ${r.error?.code ?? 'GV_ERR_RESTART_FAILED'}: ${r.app}: ${r.error?.message ?? 'restart failed'}\n`);
    return failed.length > 0 || results.length === 0 ? EXIT_FAILED : 0;
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
