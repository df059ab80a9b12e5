#!/usr/bin/env node
// The demo app gracevisor supervises in conf/: a tiny HTTP server on the port it is told.
//   node examples/demoapp.mjs --port=10001      (or PORT=10001 in the environment)
// GET /          -> "hello from demoapp pid=<pid> port=<port>"
// GET /health    -> 200 "ok"
// GET /slow?ms=N -> answers after N ms (to watch a drain)
// On SIGTERM it stops accepting and exits once its open requests are done.
import { createServer } from 'node:http';

const arg = process.argv.find((a) => a.startsWith('--port='));
const port = Number(arg ? arg.slice('--port='.length) : process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('demoapp: give a port with --port=N or PORT=N');
  process.exit(2);
}
const startDelay = Number(process.env.DEMO_START_DELAY_MS ?? 0);

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'text/plain', 'x-instance-pid': String(process.pid) });
    res.end(body + '\n');
  };
  if (url.pathname === '/health') return reply(200, 'ok');
  if (url.pathname === '/slow') {
    const ms = Math.min(Number(url.searchParams.get('ms') ?? 1000), 60_000);
    const t = setTimeout(() => reply(200, `slow done after ${ms}ms pid=${process.pid}`), ms);
    res.on('close', () => clearTimeout(t));
    return;
  }
  reply(200, `hello from demoapp pid=${process.pid} port=${port}`);
});

setTimeout(() => {
  server.listen(port, '127.0.0.1', () => console.log(`demoapp pid=${process.pid} listening on 127.0.0.1:${port}`));
}, startDelay);

process.on('SIGTERM', () => {
  console.log(`demoapp pid=${process.pid} got SIGTERM, finishing open requests`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
