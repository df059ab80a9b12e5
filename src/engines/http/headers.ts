/**
 * The headers the http engine sends upstream, built in one pass over the client's raw header list,
 * for a normal request and for an upgrade alike: X-Forwarded-For appended (the client's address
 * last); X-Forwarded-Proto and X-Forwarded-Host set by the engine — a client's own values are
 * dropped, unless the client is a trusted proxy (`trusted_proxies`), whose values are passed on;
 * and, for a normal request, hop-by-hop headers dropped (RFC 9110 §7.6.1) along with any header
 * the client's Connection names. An upgrade keeps its hop-by-hop headers: Connection and Upgrade
 * are what it is made of.
 */
import type http from 'node:http';

/** Response headers that describe the upstream connection, not the message (RFC 9110 §7.6.1). */
const RESPONSE_HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'trailer', 'upgrade', 'te'];

/** The headers for upstream as a flat [name, value, …] list, and what they say about the body. */
export interface ForwardedHeaders {
  headers: string[];
  hasBody: boolean;
  contentLength: number;
}

/** How one request's headers are rewritten. */
export interface ForwardOptions {
  /** Keep hop-by-hop headers (an upgrade). */
  upgrade: boolean;
  /** The client is a trusted proxy: its X-Forwarded-Proto/-Host are passed on. */
  trusted: boolean;
  /** The Host to send instead of the client's (from an absolute-form request target), or null. */
  host: string | null;
}

/** Build the upstream headers of `req` (see the file comment). */
export function forwardedHeaders(req: http.IncomingMessage, opts: ForwardOptions): ForwardedHeaders {
  const { upgrade, trusted } = opts;
  const raw = req.rawHeaders;
  const out: string[] = [];
  let xff: string | null = null;
  let hasProto = false;
  let fwdHost = false;
  let host: string | null = null;
  let hasBody = false;
  let contentLength = 0;
  let connectionTokens: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    // A switch on the length first keeps the common headers to one comparison.
    switch (name.length) {
      case 2: if (!upgrade && name.toLowerCase() === 'te') continue; break;
      case 4: if (name.toLowerCase() === 'host') {
        host = opts.host ?? value;
        if (opts.host !== null) { out.push(name, opts.host); continue; }
      } break;
      case 6: if (!upgrade && name.toLowerCase() === 'expect') continue; break; // node already answered 100-continue
      case 7: {
        const l = name.toLowerCase();
        if (!upgrade && (l === 'upgrade' || l === 'trailer')) continue;
        break;
      }
      case 10: {
        if (upgrade) break;
        const l = name.toLowerCase();
        if (l === 'keep-alive') continue;
        if (l === 'connection') {
          for (const token of value.split(',')) {
            const t = token.trim().toLowerCase();
            if (t !== '' && t !== 'keep-alive' && t !== 'close' && t !== 'upgrade') (connectionTokens ??= []).push(t);
          }
          continue;
        }
        break;
      }
      case 14: if (name.toLowerCase() === 'content-length') { contentLength = Number(value) || 0; hasBody ||= contentLength > 0; } break;
      case 15: if (name.toLowerCase() === 'x-forwarded-for') { xff = xff === null ? value : `${xff}, ${value}`; continue; } break;
      case 16: {
        const l = name.toLowerCase();
        if (!upgrade && l === 'proxy-connection') continue;
        if (l === 'x-forwarded-host') {
          if (!trusted) continue;
          fwdHost = true;
        }
        break;
      }
      case 17: {
        const l = name.toLowerCase();
        if (l === 'transfer-encoding') {
          hasBody = true;
          if (!upgrade) continue;
        }
        if (l === 'x-forwarded-proto') {
          if (!trusted) continue;
          hasProto = true;
        }
        break;
      }
      default: break;
    }
    out.push(name, value);
  }
  if (connectionTokens !== null) {
    const drop = new Set(connectionTokens);
    for (let i = out.length - 2; i >= 0; i -= 2) {
      if (drop.has(out[i]!.toLowerCase())) out.splice(i, 2);
    }
  }
  if (host === null && opts.host !== null) {
    host = opts.host;
    out.push(upgrade ? 'Host' : 'host', host);
  }
  const remote = req.socket.remoteAddress ?? '';
  out.push(upgrade ? 'X-Forwarded-For' : 'x-forwarded-for', xff === null ? remote : `${xff}, ${remote}`);
  if (!hasProto) out.push(upgrade ? 'X-Forwarded-Proto' : 'x-forwarded-proto', 'http');
  if (!fwdHost && host !== null) out.push(upgrade ? 'X-Forwarded-Host' : 'x-forwarded-host', host);
  return { headers: out, hasBody, contentLength };
}

/** The request head of an upgrade to `path`, as bytes to write on the upstream socket. */
export function upgradeHead(req: http.IncomingMessage, path: string, opts: Omit<ForwardOptions, 'upgrade'>): string {
  const { headers } = forwardedHeaders(req, { ...opts, upgrade: true });
  let out = `${req.method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return out + '\r\n';
}

/** Drop from a response's headers (in place) those about the upstream connection, and those its Connection names. */
export function stripResponseHopByHop(headers: http.IncomingHttpHeaders): void {
  const connection = headers.connection;
  if (typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close') {
    for (const token of connection.split(',')) delete headers[token.trim().toLowerCase()];
  }
  for (const name of RESPONSE_HOP_BY_HOP) {
    if (headers[name] !== undefined) delete headers[name];
  }
}

/** Where a request goes: its origin-form path, and the Host an absolute-form target names (else null). */
export interface RequestTarget {
  path: string;
  host: string | null;
}

/**
 * Check what the engine must refuse with 400 before anything is forwarded, and normalise the
 * request target: a second Host header (RFC 9112 §3.2: a server must reject it), and an
 * absolute-form target (`GET http://example.com/a`), which becomes origin-form (`/a`) with its
 * authority as the Host. Returns the target, or the reason for the 400.
 */
export function requestTarget(req: http.IncomingMessage): RequestTarget | { bad: string } {
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1) return { bad: 'more than one Host header' };
  const url = req.url ?? '/';
  if (url.startsWith('/') || url === '*') return { path: url, host: null };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { bad: 'a request target that is neither a path nor an absolute URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { bad: `a request target with the scheme ${parsed.protocol}` };
  return { path: parsed.pathname + parsed.search, host: parsed.host };
}
