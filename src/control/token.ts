/**
 * The bearer token that guards the control API's TCP listener. The unix socket needs none: its
 * mode (0600) already limits it to the daemon's user and root. On TCP anyone who can reach the port
 * could send commands, so every request there must carry `Authorization: Bearer <token>`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GvError } from '../errors.js';
import type { Config } from '../config/model.js';
import { TOKEN_FILE_NAME } from './wire.js';

/** Where the daemon writes a generated token and gracevisorctl looks for it. */
export function tokenFilePath(runDir: string): string {
  return join(runDir, TOKEN_FILE_NAME);
}

/** Read a token file: its contents without surrounding whitespace. Rejects with GV_ERR_CONFIG_READ. */
export async function readTokenFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new GvError('GV_ERR_CONFIG_READ', `cannot read the control token file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const token = text.trim();
  if (token === '') throw new GvError('GV_ERR_CONFIG_READ', `the control token file ${file} is empty`);
  return token;
}

/**
 * The token the daemon requires on TCP, decided once at startup: `rpc.token`, else the contents of
 * `rpc.token_file`, else a fresh random token written to `<run_dir>/control.token` with mode 0600 so
 * only the daemon's user can read it. Null when the config names no TCP listener, unless `web` is
 * set: the dashboard (./web/) asks for the same token, and resolves it this way when TCP is off.
 */
export async function resolveServerToken(rpc: Config['rpc'], runDir: string, opts: { web?: boolean } = {}): Promise<string | null> {
  if ((rpc.host === null || rpc.port === null) && opts.web !== true) return null;
  if (rpc.token !== null && rpc.token !== '') return rpc.token;
  if (rpc.token_file !== null) return readTokenFile(rpc.token_file);
  const token = randomBytes(32).toString('base64url');
  const file = tokenFilePath(runDir);
  try {
    await mkdir(runDir, { recursive: true, mode: 0o755 });
    await writeFile(file, token + '\n', { mode: 0o600 });
    // writeFile's mode only applies when it creates the file; an older file keeps its mode otherwise.
    await chmod(file, 0o600);
  } catch (err) {
    throw new GvError('GV_ERR_STATE_FILE', `cannot write the control token to ${file}: ${(err as Error).message}`, { cause: err });
  }
  return token;
}

/**
 * Compare a presented token with the expected one in constant time. Both are hashed first so the
 * comparison does not leak the expected token's length either.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token in an `Authorization: Bearer <token>` header, or null when the header is missing or of another scheme. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m ? m[1]! : null;
}
