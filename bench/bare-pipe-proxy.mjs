#!/usr/bin/env node
// The floor for a TCP proxy in Node: nothing but socket.pipe() both ways, with the tcp engine's
// socket options. bench/tcp-floor.mjs measures engines.tcp against it.
// Usage: node bench/bare-pipe-proxy.mjs LISTEN_PORT TARGET_PORT   (prints "ready PORT")
import net from 'node:net';

const [listen, target] = process.argv.slice(2).map(Number);
const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: target, noDelay: true, allowHalfOpen: true });
  upstream.once('connect', () => {
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
});
server.listen(listen, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
