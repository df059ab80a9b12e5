import t from 'tap';
import { editDistance, suggest } from '../../src/config/suggest.js';
import { parseDuration, parseSize } from '../../src/config/units.js';

t.test('durations: plain numbers are seconds, strings take ms, s, m, h, d and combinations', async (t) => {
  const ok: [string | number, number][] = [
    [0, 0], [30, 30_000], [1.5, 1500], ['30', 30_000], ['500ms', 500], ['30s', 30_000], ['5m', 300_000],
    ['2h', 7_200_000], ['1d', 86_400_000], ['1m30s', 90_000], ['0.5s', 500], [' 10s ', 10_000],
  ];
  for (const [input, ms] of ok) t.equal(parseDuration(input), ms, `${JSON.stringify(input)} is ${ms} ms`);
  for (const bad of [-1, Number.NaN, Infinity, '', 's', '10 s', '10sec', '1.5.2s', '-5s', 'fast', '1m 30s']) {
    t.equal(parseDuration(bad), null, `${JSON.stringify(bad)} does not parse`);
  }
});

t.test('sizes: plain numbers are megabytes, strings take B, K, M, G, T with an optional B', async (t) => {
  const ok: [string | number, number][] = [
    [500, 500 * 1024 ** 2], [0.5, 512 * 1024], ['500', 500 * 1024 ** 2], ['64K', 65_536], ['64kb', 65_536], ['500M', 500 * 1024 ** 2],
    ['1G', 1024 ** 3], ['1GB', 1024 ** 3], ['2t', 2 * 1024 ** 4], ['100B', 100], ['1.5M', 1.5 * 1024 ** 2], ['10 M', 10 * 1024 ** 2],
  ];
  for (const [input, bytes] of ok) t.equal(parseSize(input), bytes, `${JSON.stringify(input)} is ${bytes} bytes`);
  for (const bad of [-1, Number.NaN, '', 'M', '5P', 'big', '-5M', '5MiB']) t.equal(parseSize(bad), null, `${JSON.stringify(bad)} does not parse`);
});

t.test('suggestions pick the nearest known key and stay quiet for unrelated words', async (t) => {
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(editDistance('TREM', 'TERM'), 1, 'a swap of neighbours is one edit');
  t.equal(editDistance('', 'abc'), 3);
  t.equal(suggest('comand', ['command', 'directory']), 'command');
  t.equal(suggest('Port', ['port', 'host']), 'port', 'case does not count');
  t.equal(suggest('external_prot', ['external_port', 'external_host']), 'external_port');
  t.equal(suggest('banana', ['port', 'host']), null);
  t.equal(suggest('x', []), null);
});
