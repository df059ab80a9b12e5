/**
 * The `rpc` section: where the control API listens. Always a unix socket; TCP only when the config
 * names `host` or `port` (then the other takes the original default), with a token.
 */
import { join } from 'node:path';
import { DEFAULTS } from '../defaults.js';
import type { Config } from '../model.js';
import { getEntry, type RawEntry } from '../raw.js';
import type { Reader } from '../reader.js';

/** Every key of `rpc`. */
export const RPC_KEYS: readonly string[] = ['host', 'port', 'socket', 'token', 'token_file'];

/** The `rpc` section; `runDir` gives the socket's default place. */
export function readRpc(r: Reader, entry: RawEntry | undefined, runDir: string): Config['rpc'] {
  const out: Config['rpc'] = { socket: join(runDir, 'gracevisord.sock'), host: null, port: null, token: null, token_file: null };
  if (!entry) return out;
  const m = r.map(entry.value, 'rpc', entry.keyPos);
  if (!m) return out;
  r.checkKeys(m, RPC_KEYS, '"rpc"');
  const host = getEntry(m, 'host');
  const port = getEntry(m, 'port');
  const socket = getEntry(m, 'socket');
  const token = getEntry(m, 'token');
  const tokenFile = getEntry(m, 'token_file');
  if (socket) out.socket = r.path(socket.value, 'rpc.socket') ?? out.socket;
  if (host || port) {
    out.host = (host && r.nonEmpty(host.value, 'rpc.host')) ?? DEFAULTS.rpc_host;
    out.port = (port && r.port(port.value, 'rpc.port')) ?? DEFAULTS.rpc_port;
  }
  if (token) out.token = r.nonEmpty(token.value, 'rpc.token') ?? null;
  if (tokenFile) out.token_file = r.path(tokenFile.value, 'rpc.token_file') ?? null;
  return out;
}
