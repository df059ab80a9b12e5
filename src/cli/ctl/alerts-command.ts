import { Command, Option } from 'clipanion';
import type { AlertTestResult } from '../../observe/index.js';
import { table } from '../format.js';
import { CtlCommand, EXIT_FAILED } from './base-command.js';

/** `gracevisorctl alerts test [APP]`: a test alert through every route; exits 1 when any failed. */
export class AlertsTestCommand extends CtlCommand {
  static override paths = [['alerts', 'test']];
  static override usage = Command.Usage({
    description: 'send a test alert through every configured alert route and say which delivered it',
    details: 'Without APP, through the global routes; with APP, through the routes an alert about that app takes (its own and, unless it turned them off, the global ones). Each delivery is bounded by its route\'s timeout. Exits 1 when any route failed, or when there is none.',
    examples: [['Every global route', 'gracevisorctl alerts test'], ['The routes of one app', 'gracevisorctl alerts test web']],
  });
  json = Option.Boolean('--json', false, { description: 'Print the results as JSON' });
  app = Option.String({ required: false, name: 'APP' });

  protected override get jsonOutput(): boolean {
    return this.json;
  }

  protected async run(): Promise<number> {
    const results = await (await this.client()).testAlerts(this.app);
    this.out(results, (rs: AlertTestResult[]) => (rs.length === 0
      ? 'no alert route is configured for this\n'
      : table([['ROUTE', 'TYPE', 'RESULT', 'TIME'], ...rs.map((r) => [r.route, r.type, r.ok ? 'delivered' : `failed: ${r.error ?? ''}`, `${r.ms}ms`])])));
    if (results.length === 0) return EXIT_FAILED;
    return results.every((r) => r.ok) ? 0 : EXIT_FAILED;
  }
}
