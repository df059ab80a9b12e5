// The `web` section (the dashboard): the same model from either syntax; broken ones are in broken.test.ts.
import { join } from 'node:path';
import t from 'tap';
import { createRegistry } from '../../src/builtins.js';
import { configToJson, runCheck } from '../../src/config/check.js';
import { loadConfig } from '../../src/config/load.js';
import type { RuntimeInfo } from '../../src/config/defaults.js';

const runtime: RuntimeInfo = { uid: 1000, env: {}, tmpdir: '/tmp' };
const registry = (): ReturnType<ReturnType<typeof createRegistry>['configView']> => createRegistry().configView();

t.test('web means the same in both syntaxes, and is off when left out', async (t) => {
  const dir = t.testdir({
    'gracevisor.yaml': 'web:\n  listen: 127.0.0.1:9002\n  behind_tls: yes\napps:\n  - name: web\n    command: web {port}\n',
    'gracevisor.conf': 'web { listen 127.0.0.1:9002; behind_tls on; }\napp web {\n  command "web {port}";\n}\n',
    'bare.conf': 'web { listen 9003; }\n',
    'off.yaml': 'apps: []\n',
    'empty.yaml': 'web:\n',
  });
  const yaml = await loadConfig(join(dir, 'gracevisor.yaml'), { runtime, registry: registry() });
  const dsl = await loadConfig(join(dir, 'gracevisor.conf'), { runtime, registry: registry() });
  t.same(yaml.web, { listen: { host: '127.0.0.1', port: 9002 }, behind_tls: true });
  t.equal(configToJson(dsl), configToJson(yaml), 'the same model, the same --print text');
  const printed = await runCheck(join(dir, 'gracevisor.conf'), { print: true, registry: registry() });
  t.same(JSON.parse(printed.stdout).web, { listen: { host: '127.0.0.1', port: 9002 }, behind_tls: true }, '--print shows it');
  const bare = await loadConfig(join(dir, 'bare.conf'), { runtime, registry: registry() });
  t.same(bare.web, { listen: { host: '127.0.0.1', port: 9003 }, behind_tls: false }, 'a bare port is on loopback; behind_tls defaults to off');
  t.equal((await loadConfig(join(dir, 'off.yaml'), { runtime, registry: registry() })).web, null, 'no web section: no dashboard');
  t.equal((await loadConfig(join(dir, 'empty.yaml'), { runtime, registry: registry() })).web, null, 'an empty web: is the same as none');
});

t.test('an unknown key in or for web gets a suggestion', async (t) => {
  const dir = t.testdir({ 'g.conf': 'web { listen 9002; behind_ssl on; }\n', 'g.yaml': 'wbe:\n  listen: 9002\n' });
  await t.rejects(loadConfig(join(dir, 'g.conf'), { runtime, registry: registry() }), { code: 'GV_ERR_CONFIG_UNKNOWN_KEY', pos: { line: 1, col: 20 }, details: { suggestion: 'behind_tls' } });
  await t.rejects(loadConfig(join(dir, 'g.yaml'), { runtime, registry: registry() }), { code: 'GV_ERR_CONFIG_UNKNOWN_KEY', pos: { line: 1, col: 1 }, details: { suggestion: 'web' } });
});
