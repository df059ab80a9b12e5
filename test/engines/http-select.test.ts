import t from 'tap';
import { createHttpEngineDefinition } from '../../src/engines/http-select.js';
import { HttpEngine } from '../../src/engines/http/engine.js';
import { NativeHttpEngine } from '../../src/engines/http-native/engine.js';
import { loadHttpAddon } from '../../src/engines/http-native/addon.js';
import { engineOptions, get, httpBackend, started } from './backends.js';

t.test('engines.http falls back to the JavaScript engine where the native addon is missing, and says why', async (t) => {
  const def = createHttpEngineDefinition('/nonexistent/gracevisor_http.node');
  t.match(def.description, /\(JavaScript: the native data plane is unavailable: .*cannot be loaded.*\)$/);
  t.equal(def.unavailable?.() ?? null, null, 'engines.http is available either way');
  const engine = await started(t, def.create(engineOptions()));
  t.type(engine, HttpEngine);
  const a = await httpBackend(t, 'A');
  engine.setTargets([a.target]);
  t.equal((await get(engine.address().port, '/')).body, 'A', 'and it serves');
});

t.test('engines.http is the native data plane where the addon loaded', { skip: loadHttpAddon().reason ?? false }, async (t) => {
  const def = createHttpEngineDefinition();
  t.match(def.description, /\(native data plane\)$/);
  const engine = await started(t, def.create(engineOptions()));
  t.type(engine, NativeHttpEngine);
  const a = await httpBackend(t, 'A');
  engine.setTargets([a.target]);
  t.equal((await get(engine.address().port, '/')).body, 'A');
});
