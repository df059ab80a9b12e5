/**
 * Reading config files with bounds (docs/architecture.md "Config: bounds"): only regular files (a
 * FIFO would block the read forever, a device like /dev/zero never ends), at most
 * {@link MAX_CONFIG_FILE_BYTES} each, and at most {@link MAX_CONFIG_FILES} files per load. A config
 * is text a person writes; anything beyond these bounds is a mistake or an attack, and it is
 * refused with a positioned GV_ERR_CONFIG_* error instead of being read.
 */
import { open, stat } from 'node:fs/promises';
import { GvError, type SourcePosition } from '../errors.js';

/** The largest config file read, bytes (a 10 000-app config is about 1 MiB). */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;
/** The most files one load reads (the main file and every included one). */
export const MAX_CONFIG_FILES = 10_000;

/** Counts the files one load reads, to bound an include that matches the whole disk. */
export class FileBudget {
  #read = 0;

  /** Count one more file; false when the budget is spent. */
  take(): boolean {
    this.#read++;
    return this.#read <= MAX_CONFIG_FILES;
  }
}

/**
 * The text of `file`. Rejects with a GvError: GV_ERR_CONFIG_NOT_FOUND (missing; `missingCode`
 * replaces it for includes), GV_ERR_CONFIG_READ (not a regular file, unreadable) or
 * GV_ERR_CONFIG_LIMIT (too large), each at `namedAt` when given.
 */
export async function readConfigFile(file: string, namedAt?: SourcePosition, missingCode: 'GV_ERR_CONFIG_NOT_FOUND' | 'GV_ERR_CONFIG_INCLUDE_MISSING' = 'GV_ERR_CONFIG_NOT_FOUND'): Promise<string> {
  const where = namedAt ? { pos: namedAt } : {};
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GvError(code === 'ENOENT' ? missingCode : 'GV_ERR_CONFIG_READ', `cannot read ${file}: ${(err as Error).message}`, { ...where, cause: err, details: { path: file } });
  }
  if (!st.isFile()) {
    throw new GvError('GV_ERR_CONFIG_READ', `${file} is ${kindOf(st)}, not a regular file; a config is read only from regular files`, { ...where, details: { path: file, reason: 'not-a-file' } });
  }
  if (st.size > MAX_CONFIG_FILE_BYTES) throw tooLarge(file, where);
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw new GvError('GV_ERR_CONFIG_READ', `cannot read ${file}: ${(err as Error).message}`, { ...where, cause: err, details: { path: file } });
  }
  try {
    // Read at most one byte past the bound: a file that grew since stat() is still refused.
    const buf = Buffer.alloc(Math.min(MAX_CONFIG_FILE_BYTES + 1, st.size + 64 * 1024));
    let length = 0;
    for (;;) {
      if (length === buf.length) break;
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_CONFIG_FILE_BYTES) throw tooLarge(file, where);
    return decodeConfigText(buf.subarray(0, length), file);
  } catch (err) {
    if (err instanceof GvError) throw err;
    throw new GvError('GV_ERR_CONFIG_READ', `cannot read ${file}: ${(err as Error).message}`, { ...where, cause: err, details: { path: file } });
  } finally {
    await fh.close();
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * A config file's bytes as text: strict UTF-8 (an invalid byte is an error at its position, never
 * a U+FFFD that would end up in a command), without a leading byte order mark (editors on Windows
 * write one). A NUL is left to the parsers (outside a value it is a syntax error there) and to the
 * readers of values (no command, path or value may hold one: config/reader.ts).
 */
export function decodeConfigText(bytes: Uint8Array, file: string): string {
  let text: string;
  try {
    // The decoder drops a leading BOM itself (ignoreBOM: false).
    text = STRICT_UTF8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw new GvError('GV_ERR_CONFIG_SYNTAX', `the file is not valid UTF-8 (byte 0x${bytes[at]!.toString(16).padStart(2, '0')} at offset ${at})`, { pos: positionOf(bytes, at, file), details: { path: file, offset: at } });
  }
  return text;
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
    }
    // Overlong three/four-byte forms, surrogates and code points past U+10FFFF.
    const d1 = b[i + 1] ?? 0;
    if ((c === 0xe0 && d1 < 0xa0) || (c === 0xed && d1 >= 0xa0) || (c === 0xf0 && d1 < 0x90) || (c === 0xf4 && d1 >= 0x90)) return i;
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}

/** Line and column (in characters) of byte `offset`. */
function positionOf(b: Uint8Array, offset: number, file: string): SourcePosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (b[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const col = new TextDecoder().decode(b.subarray(lineStart, offset)).length + 1;
  return { file, line, col };
}

function tooLarge(file: string, where: { pos?: SourcePosition }): GvError {
  return new GvError('GV_ERR_CONFIG_LIMIT', `${file} is larger than ${MAX_CONFIG_FILE_BYTES / 1024 / 1024} MiB, the most a config file may be`, {
    ...where,
    details: { path: file, limit: 'size', max: MAX_CONFIG_FILE_BYTES },
  });
}

function kindOf(st: Awaited<ReturnType<typeof stat>>): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}
