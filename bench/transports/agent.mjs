// Transport candidate: node:http server + http.Agent({ keepAlive }) forwarding (stream pipes).
// Usage: node agent.mjs LISTEN UPSTREAM   (prints "ready PORT")
import http from 'node:http';

const [listen, upstream] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo' });
const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const headers = { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress };
  delete headers.connection;
  const up = http.request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers, agent }, (ur) => {
    delete ur.headers.connection;
    delete ur.headers['keep-alive'];
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
  req.pipe(up);
});
server.listen(listen, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
