#!/usr/bin/env node
// The benchmark's fast keep-alive HTTP backend, run as its own process so it does not share an
// event loop with the proxy or the load generator. It answers every request with a small fixed body.
// Usage: node bench/backend.mjs PORT   (prints "ready PORT" when listening)
import http from 'node:http';

const body = Buffer.from('hello from the gracevisor bench backend\n');
const headers = { 'content-type': 'text/plain', 'content-length': String(body.length) };
const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
