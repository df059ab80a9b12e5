import { Command, Option } from 'clipanion';
import { createRegistry } from '../../builtins.js';
import { DEFAULT_READ_BOUNDS, loadConfig } from '../../config/load.js';
import { GvError } from '../../errors.js';
import { configLoadOptions } from '../../plugins/loader.js';
import type { RegistryEntry } from '../../plugins/types.js';
import { formatPlugins } from '../format.js';
import { CtlCommand } from './base-command.js';

/**
 * `gracevisorctl plugins list [--json]`: every registered id, its kind, its plugin, its description,
 * what of the config uses it, and whether it is available. From the running daemon; with no daemon
 * running, from the built-ins and the plugins `--conf` names (like `caddy list-modules`).
 */
export class PluginsListCommand extends CtlCommand {
  static override paths = [['plugins', 'list']];
  static override usage = Command.Usage({
    description: 'list every engine, health check and alerter, what uses each, and whether each is available here (and why not)',
    details: 'Asks the running daemon. With no daemon running it builds the list itself: the built-in plugins and those the config given with --conf names (the plugins are loaded, nothing is started), and says so on stderr.',
  });
  json = Option.Boolean('--json', false, { description: 'Print the list as JSON' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected override get readOnly(): boolean {
    return true;
  }

  protected async run(): Promise<number> {
    let entries: (RegistryEntry & { usedBy?: string[] })[];
    try {
      entries = await (await this.client()).plugins();
    } catch (err) {
      if (!(err instanceof GvError) || err.code !== 'GV_ERR_CONTROL_UNREACHABLE') throw err;
      entries = await this.#local();
      this.context.stderr.write(`gracevisorctl: no daemon answers (${err.message.split(':')[0]}); listing the built-in plugins${this.conf ? ` and those ${this.conf} names` : ''} instead\n`);
    }
    this.out(entries, formatPlugins);
    return 0;
  }

  /** The registry gracevisord would build: the built-ins, and the config's plugins when --conf is given. */
  async #local(): Promise<(RegistryEntry & { usedBy?: string[] })[]> {
    const registry = createRegistry();
    if (this.conf === undefined) return registry.list();
    const config = await loadConfig(this.conf, { ...configLoadOptions(registry), bounds: DEFAULT_READ_BOUNDS });
    return registry.list().map((e) => {
      const key = e.id.slice(e.kind.length + 1);
      const usedBy = e.kind === 'engines'
        ? config.apps.filter((a) => a.proxy === key).map((a) => a.name)
        : e.kind === 'healthchecks'
          ? config.apps.filter((a) => (a.healthcheck?.type ?? 'tcp') === key).map((a) => a.name)
          : [...config.alerts.map((a, i) => (a.type === key ? `global[${i}]` : null)), ...config.apps.flatMap((app) => app.alerts.map((a, i) => (a.type === key ? `${app.name}[${i}]` : null)))].filter((x): x is string => x !== null);
      return { ...e, usedBy };
    });
  }
}
