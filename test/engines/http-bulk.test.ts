// 1 GB up and 1 GB down through the http engine with flat memory (issue 14: bodies stream in both
// directions with backpressure, never buffered whole). Client, engine and app share this process, so
// its RSS is what is watched: an engine that buffered a body would add a gigabyte. Runs against the
// JavaScript engine here and the native data plane in ./http-bulk-native.test.ts.
import t from 'tap';
import http from 'node:http';
import { engineOptions, httpBackend, started, newHttpEngine } from './backends.js';

const GB = 1024 ** 3;
/** Growth of RSS over the run that still counts as flat: buffers and pools, far from a body. */
const FLAT = 256 * 1024 ** 2;

t.beforeEach((t) => t.setTimeout(600_000));

/** Calls `fn` while sampling RSS every 50 ms; returns its result and the highest RSS above the start. */
async function watchRss<T>(fn: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 50);
  try {
    const result = await fn();
    return { result, growth: Math.max(peak, process.memoryUsage.rss()) - start };
  } finally {
    clearInterval(timer);
  }
}

t.test('1 GB up and 1 GB down pass intact with flat RSS', async (t) => {
  const a = await httpBackend(t, 'A');
  const engine = await started(t, newHttpEngine(engineOptions()));
  engine.setTargets([a.target]);
  const port = engine.address().port;

  const up = await watchRss(() => new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/sink', method: 'POST', agent: false, headers: { 'content-length': GB } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(256 * 1024, 'u');
    let left = GB;
    const pump = (): void => {
      while (left > 0) {
        left -= chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  }));
  t.equal(up.result, String(GB), 'the app read every byte sent');
  t.ok(up.growth < FLAT, `RSS grew ${Math.round(up.growth / 1024 ** 2)} MB uploading 1 GB`);

  const down = await watchRss(() => new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/source?bytes=${GB}`, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  }));
  t.equal(down.result, GB, 'the client read every byte the app sent');
  t.ok(down.growth < FLAT, `RSS grew ${Math.round(down.growth / 1024 ** 2)} MB downloading 1 GB`);
});
