/**
 * The answers the http engine gives itself: 400 (a request it refuses to forward), 502 (the
 * instance cannot be reached), 503 (no instance ready) and 504 (the instance did not answer within
 * upstream_timeout).
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';

export const BODY_502 = 'Bad Gateway: the app instance cannot be reached\n';
export const BODY_503 = 'Service Unavailable: no app instance is ready\n';
export const BODY_504 = 'Gateway Timeout: the app instance did not answer in time\n';

/** Answer `res` with `status` and a short text body; a response already under way is cut instead. */
export function sendError(res: http.ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The same answer as raw bytes, for a socket taken over by an upgrade. */
export function rawError(status: 502 | 503, body: string): string {
  const text = status === 502 ? 'Bad Gateway' : 'Service Unavailable';
  return `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** Answer an upgrade's socket with `status` and close it (or just close it when it cannot be written). */
export function endSocket(socket: Duplex, status: 502 | 503, body: string): void {
  if (socket.writable) socket.end(rawError(status, body));
  else socket.destroy();
}
