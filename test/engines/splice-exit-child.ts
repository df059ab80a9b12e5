// Child of splice-unavailable.test.ts: one connection through the splice engine, then everything
// closed, and no process.exit. If the addon kept the event loop alive, this process would never end.
import net from 'node:net';
import { once } from 'node:events';
import { spliceEngine } from '../../src/engines/splice.js';

const upstream = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await once(upstream, 'listening');
const e = spliceEngine.create({ app: 'exit', host: '127.0.0.1', port: 0, queueTimeoutMs: 1000, log: () => {} });
await e.listen();
e.setTargets([{ id: 'a', host: '127.0.0.1', port: (upstream.address() as net.AddressInfo).port }]);
const c = net.connect(e.address().port, '127.0.0.1');
c.setEncoding('utf8');
let got = '';
c.on('data', (d: string) => (got += d));
c.end('hello');
await once(c, 'close');
process.stdout.write(`echoed ${got}\n`);
await e.close();
upstream.close();
