// The alert router on its own: which routes an event takes, folding within an interval, retries
// with backoff, and isolation of an alerter that throws.
import t from 'tap';
import { createRegistry } from '../../src/builtins.js';
import type { AlertConfig, AppConfig, Config } from '../../src/config/model.js';
import { Hooks } from '../../src/plugins/hooks.js';
import type { Alert, Plugin } from '../../src/plugins/types.js';
import { AlertRouter } from '../../src/observe/alerts.js';
import { EventHub } from '../../src/observe/events.js';

/** A registry with a `memo` alerter that records what it is sent (and fails while `failing` > 0). */
function setup(): { hooks: Hooks; hub: EventHub; router: AlertRouter; sent: { route: string; alert: Alert }[]; logs: { msg: string; fields?: Record<string, unknown> }[]; state: { failing: number } } {
  const sent: { route: string; alert: Alert }[] = [];
  const state = { failing: 0 };
  const plugin: Plugin = {
    name: 'test:memo', apiVersion: 1,
    alerters: {
      memo: {
        description: 'records alerts',
        create: (opts) => ({
          async send(alert) {
            if (state.failing > 0) {
              state.failing--;
              throw new Error('not now');
            }
            sent.push({ route: String(opts.name), alert });
          },
        }),
      },
    },
  };
  const hooks = new Hooks();
  const registry = createRegistry(hooks, [plugin]);
  const hub = new EventHub(hooks);
  const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
  const router = new AlertRouter(hub, registry, (_l, msg, fields) => logs.push({ msg, ...(fields && { fields }) }), { retryBaseMs: 10 });
  return { hooks, hub, router, sent, logs, state };
}

const route = (name: string, over: Partial<AlertConfig> = {}): AlertConfig => ({ type: 'memo', events: ['restart_failed', 'app_fatal', 'reload_failed'], interval: 60_000, timeout: 1_000, retries: 2, name, ...over });
const app = (name: string, alerts: AlertConfig[], global_alerts = true): AppConfig => ({ name, alerts, global_alerts } as unknown as AppConfig);
const config = (alerts: AlertConfig[], apps: AppConfig[]): Config => ({ alerts, apps } as unknown as Config);
const failed = { error: { code: 'GV_ERR_START_FAILED', message: 'x' }, attempt: 1, nextAttemptMs: 100, instance: 'a#2', detail: 'exited with code 3', stderr: ['boom'] };

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 50));
}

t.test('an app event goes to the app\'s routes and the global ones, unless the app turned those off; a global event to the global ones', async (t) => {
  const { hooks, router, sent } = setup();
  await router.configure(config([route('g')], [app('a', [route('a0')]), app('b', [], false), app('c', [])]));
  await hooks.emit('onRestartFailed', 'a', failed);
  await hooks.emit('onRestartFailed', 'b', failed);
  await hooks.emit('onRestartFailed', 'c', failed);
  await hooks.emit('onReloadFailed', null, { error: { code: 'GV_ERR_CONFIG_SYNTAX', message: 'y' }, errors: [] });
  await settle();
  t.same(sent.map((s) => `${s.route}:${s.alert.app ?? '-'}:${s.alert.event}`).sort(), ['a0:a:restart_failed', 'g:-:reload_failed', 'g:a:restart_failed', 'g:c:restart_failed']);
  t.match(sent.find((s) => s.route === 'a0')!.alert, { instance: 'a#2', detail: 'exited with code 3', stderr: ['boom'], error: { code: 'GV_ERR_START_FAILED' } });
  await router.close();
});

t.test('a route sends only the events it names', async (t) => {
  const { hooks, router, sent } = setup();
  await router.configure(config([route('fatal-only', { events: ['app_fatal'] })], [app('a', [])]));
  await hooks.emit('onRestartFailed', 'a', failed);
  await hooks.emit('onAppFatal', 'a', { error: failed.error, retries: 5 });
  await settle();
  t.same(sent.map((s) => s.alert.event), ['app_fatal']);
  await router.close();
});

t.test('within an interval the same app and event are folded into one alert with a count; another app is not', async (t) => {
  const { hooks, router, sent } = setup();
  await router.configure(config([route('g', { interval: 300 })], [app('a', []), app('b', [])]));
  for (let i = 0; i < 5; i++) await hooks.emit('onRestartFailed', 'a', failed);
  await hooks.emit('onRestartFailed', 'b', failed);
  await settle();
  t.same(sent.map((s) => [s.alert.app, s.alert.folded]), [['a', undefined], ['b', undefined]], 'the first of each at once');
  await new Promise((r) => setTimeout(r, 500));
  t.same(sent.slice(2).map((s) => [s.alert.app, s.alert.folded]), [['a', 4]], 'the rest of a folded at the interval\'s end');
  await router.close();
});

t.test('a failed delivery is retried with backoff, then logged; never thrown', async (t) => {
  const { hooks, router, sent, logs, state } = setup();
  await router.configure(config([route('g', { retries: 2 })], [app('a', [])]));
  state.failing = 2;
  await hooks.emit('onAppFatal', 'a', { error: failed.error, retries: 5 });
  await new Promise((r) => setTimeout(r, 200));
  t.equal(sent.length, 1, 'delivered on the third attempt');
  t.equal(logs.filter((l) => l.msg.includes('retrying')).length, 2);
  state.failing = 10;
  await hooks.emit('onAppFatal', 'b', { error: failed.error, retries: 5 });
  await new Promise((r) => setTimeout(r, 300));
  t.ok(logs.some((l) => l.msg === 'alert not delivered' && l.fields?.attempt === 3), 'given up after retries, logged');
  await router.close();
});

t.test('alerts test goes through each route once and reports each result', async (t) => {
  const { router, state } = setup();
  await router.configure(config([route('g', { retries: 0 })], [app('a', [route('a0', { retries: 0 })])]));
  const ok = await router.test('a');
  t.same(ok.map((r) => [r.route, r.ok]).sort(), [['a[0]', true], ['global[0]', true]]);
  state.failing = 1;
  const one = await router.test();
  t.match(one, [{ route: 'global[0]', ok: false, error: 'not now' }]);
  await t.rejects(router.test('nope'), { code: 'GV_ERR_APP_NOT_FOUND' });
  await router.close();
});
