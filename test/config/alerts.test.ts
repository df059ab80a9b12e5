import { join } from 'node:path';
import t from 'tap';
import { createRegistry } from '../../src/builtins.js';
import { configToJson } from '../../src/config/check.js';
import { loadConfig } from '../../src/config/load.js';
import type { RuntimeInfo } from '../../src/config/defaults.js';

const runtime: RuntimeInfo = { uid: 1000, env: {}, tmpdir: '/tmp' };
const registry = (): ReturnType<ReturnType<typeof createRegistry>['configView']> => createRegistry().configView();

t.test('alerts and metrics mean the same in both syntaxes, with defaults and an app that turns the global routes off', async (t) => {
  const dir = t.testdir({
    'gracevisor.yaml': [
      'alerts:',
      '  - type: webhook',
      '    url: http://127.0.0.1:9000/hook',
      '    events: [restart_failed, app_fatal]',
      '    timeout: 2s',
      '  - type: log',
      'metrics:',
      '  listen: 127.0.0.1:9464',
      '  statsd: { host: 127.0.0.1, port: 8125, prefix: gv. }',
      'apps:',
      '  - name: web',
      '    command: web {port}',
      '    alerts:',
      '      - type: exec',
      '        command: ./notify.sh',
      '        interval: 5m',
      '  - name: quiet',
      '    command: quiet {port}',
      '    external_port: 8081',
      '    alerts: []',
      '',
    ].join('\n'),
    'gracevisor.conf': [
      'alert webhook {',
      '  url http://127.0.0.1:9000/hook;',
      '  events restart_failed app_fatal;',
      '  timeout 2s;',
      '}',
      'alert log;',
      'metrics { listen 127.0.0.1:9464; statsd { host 127.0.0.1; port 8125; prefix gv.; } }',
      'app web {',
      '  command "web {port}";',
      '  alert exec { command ./notify.sh; interval 5m; }',
      '}',
      'app quiet {',
      '  command "quiet {port}";',
      '  listen 8081;',
      '  alerts off;',
      '}',
      '',
    ].join('\n'),
  });
  const yaml = await loadConfig(join(dir, 'gracevisor.yaml'), { runtime, registry: registry() });
  const dsl = await loadConfig(join(dir, 'gracevisor.conf'), { runtime, registry: registry() });
  t.equal(configToJson(dsl), configToJson(yaml));
  t.same(yaml.alerts, [
    { type: 'webhook', events: ['restart_failed', 'app_fatal'], interval: 60_000, timeout: 2_000, retries: 3, url: 'http://127.0.0.1:9000/hook' },
    { type: 'log', events: ['restart_failed', 'app_fatal', 'instance_exit', 'unhealthy', 'reload_failed'], interval: 60_000, timeout: 5_000, retries: 3 },
  ]);
  t.same(yaml.metrics, { listen: { host: '127.0.0.1', port: 9464 }, token: null, statsd: { host: '127.0.0.1', port: 8125, prefix: 'gv.', interval: 10_000 } });
  const [web, quiet] = yaml.apps;
  t.same(web!.alerts, [{ type: 'exec', events: ['restart_failed', 'app_fatal', 'instance_exit', 'unhealthy', 'reload_failed'], interval: 300_000, timeout: 5_000, retries: 3, command: './notify.sh' }]);
  t.equal(web!.global_alerts, true);
  t.same(quiet!.alerts, []);
  t.equal(quiet!.global_alerts, false, 'alerts: [] / alerts off turns the global routes off');
});

t.test('broken alert routes and metrics are positioned errors', async (t) => {
  const cases: [string, string, string, number, number][] = [
    ['g.yaml', 'alerts:\n  - url: http://x\n', 'GV_ERR_CONFIG_REQUIRED', 2, 5],
    ['g.yaml', 'alerts:\n  - type: webhook\n    url: http://x\n    events: [all, nope]\n', 'GV_ERR_CONFIG_RANGE', 4, 19],
    ['g.yaml', 'alerts:\n  - type: webhook\n    url: http://x\n    colour: red\n', 'GV_ERR_CONFIG_ALERT', 4, 13],
    ['g.yaml', 'alerts:\n  - type: exec\n    command: "notify | mail"\n', 'GV_ERR_CONFIG_ALERT', 3, 14],
    ['g.yaml', 'alerts: {type: log}\n', 'GV_ERR_CONFIG_TYPE', 1, 9],
    ['g.conf', 'metrics { listen nowhere; }\n', 'GV_ERR_CONFIG_TYPE', 1, 18],
    ['g.conf', 'metrics { statsd { port 99999; } }\n', 'GV_ERR_CONFIG_RANGE', 1, 25],
    ['g.conf', 'metrics { scrape yes; }\n', 'GV_ERR_CONFIG_UNKNOWN_KEY', 1, 11],
    ['g.conf', 'alert;\n', 'GV_ERR_CONFIG_REQUIRED', 1, 1],
  ];
  for (const [file, text, code, line, col] of cases) {
    const dir = t.testdir({ [file]: text });
    await t.rejects(loadConfig(join(dir, file), { runtime, registry: registry() }), { code, pos: { line, col } }, `${text.trim()}: ${code} at ${line}:${col}`);
  }
});
