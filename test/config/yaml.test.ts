import t from 'tap';
import { loadYaml } from '../../src/config/yaml-loader.js';
import { rawToPlain } from '../../src/config/raw.js';

t.test('YAML anchors and aliases load, with the alias at the position where it is used', async (t) => {
  const res = loadYaml('base: &b\n  max_log_size: 5\nlogger: *b\n', 'f.yaml');
  t.same(res.errors, []);
  t.same(rawToPlain(res.value!), { base: { max_log_size: 5 }, logger: { max_log_size: 5 } });
  const logger = res.value!.kind === 'map' ? res.value!.entries[1]! : undefined;
  t.same([logger?.value.pos.line, logger?.value.pos.col], [3, 9]);
});

t.test('YAML scalars keep their types and empty values are null', async (t) => {
  const res = loadYaml('a: 1\nb: "1"\nc: true\nd:\ne: [x, 2.5]\nf: 0x10\n', 'f.yaml');
  t.same(rawToPlain(res.value!), { a: 1, b: '1', c: true, d: null, e: ['x', 2.5], f: 16 });
});

t.test('YAML keys that are not plain strings are type errors', async (t) => {
  const res = loadYaml('? [a, b]\n: 1\nok: 2\n', 'f.yaml');
  t.same(res.errors.map((e) => [e.code, e.pos?.line, e.pos?.col]), [['GV_ERR_CONFIG_TYPE', 1, 3]]);
  t.same(rawToPlain(res.value!), { ok: 2 });
});

t.test('several YAML documents in one file are a syntax error', async (t) => {
  const res = loadYaml('a: 1\n---\nb: 2\n', 'f.yaml');
  t.equal(res.value, null);
  t.same(res.errors.map((e) => e.code), ['GV_ERR_CONFIG_SYNTAX']);
  t.notMatch(res.errors[0]!.message, /\n/, 'one line, the code frame dropped');
});
