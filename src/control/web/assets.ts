/**
 * The dashboard's front end (web/, bundled by scripts/build-web.mjs into dist/web/), read into
 * memory once when the dashboard starts: a handful of files, a few hundred KB, each kept with its
 * gzip form and an ETag. Serving is then a map lookup — no path from a request ever reaches the
 * file system, so there is nothing to traverse.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** One file of the bundle, ready to send. */
export interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Most bytes read from the bundle folder: a bound, in case it points somewhere unexpected. */
const MAX_TOTAL = 4 * 1024 * 1024;

/**
 * Where the bundle is: dist/web/ of this package, from dist/control/web/ (the build) as from
 * src/control/web/ (tests running the sources) — three folders up is the package root either way.
 */
export function defaultAssetsDir(): string {
  return join(import.meta.dirname, '..', '..', '..', 'dist', 'web');
}

/**
 * Read every file of `dir` (not its sub-folders) whose type is known, keyed by `/name`. A missing
 * folder gives an empty map: the server then answers that the front end was not built.
 */
export async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return out;
  }
  let total = 0;
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const file = join(dir, name);
    const st = await stat(file);
    if (!st.isFile()) continue;
    total += st.size;
    if (total > MAX_TOTAL) break;
    const body = await readFile(file);
    const compressible = !type.startsWith('image/png') && body.length > 1024;
    out.set(`/${name}`, {
      type,
      body,
      gzip: compressible ? gzipSync(body) : null,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    });
  }
  return out;
}
