/**
 * Loading one of the native addons scripts/build-native.mjs builds at install time (native/build/
 * Release/*.node). Loading never throws: a machine without the addon gets a reason instead, which
 * `plugins list` shows and a config check reports.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Either the loaded addon or why it is not there. */
export type AddonLoad<A> = { addon: A; reason: null } | { addon: null; reason: string };

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where `npm ci` (scripts/build-native.mjs) puts the addon named `name` (`gracevisor_splice`). */
export function defaultAddonPath(name: string): string {
  return join(packageRoot, 'native', 'build', 'Release', `${name}.node`);
}

/** What {@link loadAddon} needs to know about one addon. */
export interface AddonSpec<A> {
  /** For reasons: `splice`, `http`. */
  label: string;
  /** The build's note next to native/build/Release when the addon did not build (`UNAVAILABLE`). */
  note: string;
  /** True when the module is this addon (it exports what the engine calls). */
  is: (mod: Partial<A>) => boolean;
}

/**
 * Loads the addon at `path`. A reason is, in order: not Linux, the build's own note, the load error.
 */
export function loadAddon<A>(path: string, spec: AddonSpec<A>): AddonLoad<A> {
  if (process.platform !== 'linux') return { addon: null, reason: `the native ${spec.label} addon is Linux-only; this is ${process.platform}` };
  const note = join(dirname(path), '..', spec.note);
  if (!existsSync(path) && existsSync(note)) {
    const text = readFileSync(note, 'utf8').trim();
    return { addon: null, reason: text || `the native ${spec.label} addon did not build` };
  }
  try {
    const mod = createRequire(import.meta.url)(path) as Partial<A>;
    if (!spec.is(mod)) return { addon: null, reason: `${path} is not the ${spec.label} addon` };
    return { addon: mod as A, reason: null };
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { addon: null, reason: `the native ${spec.label} addon cannot be loaded (run npm run build:native): ${msg}` };
  }
}
