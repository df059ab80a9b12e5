import { Command, Option } from 'clipanion';
import { setTimeout as sleep } from 'node:timers/promises';
import * as t from 'typanion';
import type { AppStatus } from '../../supervisor/api.js';
import { formatStatus, formatWatch, type Rates } from '../format.js';
import { CtlCommand, EXIT_NOT_RUNNING } from './base-command.js';

/**
 * Running, for the exit status: an instance serves (the engine sends it work). An app whose restart
 * gave up (`fatal`) while its old instance still serves is running; one with nothing serving is not.
 */
function running(app: AppStatus): boolean {
  return app.instances.some((i) => i.active);
}

/**
 * `gracevisorctl status [APP…] [--json] [--watch]`: every app (or the ones named) with their
 * instances. Exits 3 when an app asked about (without names: any app) has no instance serving, as
 * `systemctl is-active` and `supervisorctl status` do; 0 when all are.
 */
export class StatusCommand extends CtlCommand {
  static override paths = [['status']];
  static override usage = Command.Usage({
    description: 'show apps, their instances and engine counters',
    details: 'One block per app: engine and public address, state, restarts, open connections, requests and errors; then each instance with its id, pid, internal port, state, time in that state, uptime, CPU, memory, work in flight and handled, and last error. `*` marks the instances the engine sends new work to. Exit status: 0 when every app asked about is running (an instance serves: running, restarting, or fatal with its old instance still serving), 3 when one is not (stopped, stopping, starting, fatal with nothing serving), 1 when the daemon cannot be asked. `--watch` redraws a live view (requests per second, restarts, CPU, memory) until Ctrl-C.',
    examples: [['Every app', 'gracevisorctl status'], ['One app as JSON', 'gracevisorctl status web --json'], ['A live view', 'gracevisorctl status --watch']],
  });
  apps = Option.Rest({ name: 'APP' });
  json = Option.Boolean('--json', false, { description: 'Print the status as JSON' });
  watch = Option.Boolean('-w,--watch', false, { description: 'Redraw a live view in place until interrupted' });
  interval = Option.String('--interval', { description: 'Seconds between redraws of --watch (default 1)', validator: t.cascade(t.isNumber(), [t.isInInclusiveRange(0.2, 3600)]) });

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected override get readOnly(): boolean {
    return true;
  }

  protected async run(): Promise<number> {
    const client = await this.client();
    const get = async (): Promise<AppStatus[]> => {
      if (this.apps.length === 0) return client.status();
      const all = await Promise.all([...new Set(this.apps)].map((a) => client.status(a)));
      return all.flat();
    };
    if (this.watch) return this.#watch(get);
    const apps = await get();
    this.out(this.apps.length === 1 || this.json ? apps : apps, formatStatus);
    return apps.every(running) ? 0 : EXIT_NOT_RUNNING;
  }

  /** The live view: clear, draw, wait, with rates from the difference of two snapshots. */
  async #watch(get: () => Promise<AppStatus[]>): Promise<number> {
    const every = (this.interval ?? 1) * 1000;
    let prev: { at: number; apps: AppStatus[] } | null = null;
    const quit = new AbortController();
    const stop = (): void => quit.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const out = this.context.stdout;
    try {
      while (!quit.signal.aborted) {
        const apps = await get();
        const now = performance.now();
        const rates: Rates = new Map();
        if (prev) {
          const dt = (now - prev.at) / 1000;
          for (const a of apps) {
            const before = prev.apps.find((p) => p.name === a.name);
            if (!before) continue;
            rates.set(a.name, Math.max(0, (a.stats.requests - before.stats.requests) / dt));
            for (const tg of a.stats.targets) {
              const b = before.stats.targets.find((x) => x.id === tg.id);
              if (b) rates.set(tg.id, Math.max(0, (tg.total - b.total) / dt));
            }
          }
        }
        prev = { at: now, apps };
        const frame = formatWatch(apps, rates, this.paint, new Date());
        // On a terminal: home, clear, draw. Off one: each frame in turn.
        out.write(this.tty ? `\x1b[H\x1b[2J${frame}` : `${frame}\n`);
        await sleep(every, undefined, { signal: quit.signal }).catch(() => undefined);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  }
}
