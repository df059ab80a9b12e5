/** `plugins`: the specs of the plugins to load, each with where it was written. */
import { dirname, resolve as resolvePath } from 'node:path';
import type { SourcePosition } from '../../errors.js';
import type { RawValue } from '../raw.js';
import { isNull, type Reader } from '../reader.js';

/** One `plugins` entry after path resolution: an absolute path or a package name, and where it was written. */
export interface PluginLoadSpec {
  spec: string;
  pos: SourcePosition;
}

/** A path (`./x`, `../x`) resolves against the naming file's folder; an absolute path or a package name stays as is. */
export function readPlugins(r: Reader, v: RawValue | undefined): PluginLoadSpec[] {
  if (v === undefined || isNull(v)) return [];
  return r.stringList(v, 'plugins').map(({ value, pos }) => ({
    spec: value.startsWith('./') || value.startsWith('../') || value === '.' || value === '..' ? resolvePath(dirname(pos.file), value) : value,
    pos,
  }));
}
