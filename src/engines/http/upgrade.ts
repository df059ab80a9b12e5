/**
 * An upgrade (WebSocket or other): the request head is written to the target, then bytes are piped
 * both ways. The client socket counts as in-flight work of its target until both sides closed, so a
 * drain waits for it. Either side ending its write side is passed on (half-close); a reset or an
 * error on one side destroys the other.
 */
import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ExchangeOwner } from './exchange.js';
import { upgradeHead, type RequestTarget } from './headers.js';
import { BODY_502, endSocket } from './responses.js';
import { trackPair } from '../targets.js';
import type { HttpTargetState } from './target-state.js';

/**
 * Connect `client` (an upgrade request's socket, with `head` already read) to `st`'s target; `target`
 * is the request's origin-form path and Host, `trusted` whether its X-Forwarded-* pass on.
 */
export function pipeUpgrade(owner: ExchangeOwner, st: HttpTargetState, req: http.IncomingMessage, client: Duplex, head: Buffer, target: RequestTarget, trusted: boolean): void {
  st.total++;
  st.upgrades.add(client);
  const upstream = net.connect({ host: st.target.host, port: st.target.port, noDelay: true });
  let connected = false;
  trackPair(st, client, upstream, () => st.upgrades.delete(client));
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (!connected) {
      owner.countError();
      owner.logUpstreamError(st.target, err);
      endSocket(client, 502, BODY_502);
    } else {
      client.destroy();
    }
  });
  client.on('error', () => upstream.destroy());
  upstream.once('connect', () => {
    connected = true;
    upstream.write(upgradeHead(req, target.path, { trusted, host: target.host }));
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
    client.resume();
  });
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => {
    // Ended by the app: let the client flush what pipe wrote; closed without an end: cut it.
    if (connected && !client.writableEnded) client.destroy();
  });
}
