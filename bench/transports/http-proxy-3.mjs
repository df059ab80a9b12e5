// Transport candidate: http-proxy-3 (~1.23, the Node 20 line) over an http.Agent({ keepAlive }).
// Not a dependency: install it somewhere with `npm install --no-save --prefix DIR http-proxy-3@~1.23`
// and point HTTP_PROXY_3 at DIR/node_modules/http-proxy-3. Usage: node http-proxy-3.mjs LISTEN UPSTREAM
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const [listen, upstream] = process.argv.slice(2).map(Number);
const mod = await import(pathToFileURL(`${process.env.HTTP_PROXY_3}/dist/lib/index.js`).href);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = (mod.default ?? mod).createProxyServer({ target: `http://127.0.0.1:${upstream}`, agent, xfwd: true });
proxy.on('error', (_e, _req, res) => { try { res.writeHead(502); res.end(); } catch { /* socket gone */ } });
const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => proxy.web(req, res));
server.listen(listen, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
