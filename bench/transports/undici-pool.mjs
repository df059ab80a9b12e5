// Transport candidate: node:http server + undici Pool, through the dispatch() handler API (no streams).
// Usage: node undici-pool.mjs LISTEN UPSTREAM   (prints "ready PORT")
import http from 'node:http';
import { Pool } from 'undici';

const [listen, upstream] = process.argv.slice(2).map(Number);
const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 256, pipelining: 1 });
class Handler {
  constructor(res) { this.res = res; }
  onRequestStart() {}
  onResponseStart(_c, status, headers) {
    delete headers.connection;
    delete headers['keep-alive'];
    this.res.writeHead(status, headers);
  }
  onResponseData(_c, chunk) { this.res.write(chunk); }
  onResponseEnd() { this.res.end(); }
  onResponseError() { if (!this.res.headersSent) this.res.writeHead(502); this.res.end(); }
}
const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const headers = { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress };
  delete headers.connection;
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.dispatch({ method: req.method, path: req.url, headers, body: hasBody ? req : null }, new Handler(res));
});
server.listen(listen, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
