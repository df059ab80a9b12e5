/** The `user` section, global or per app: `user: app`, or `user: { username: app }`. */
import type { UserConfig } from '../model.js';
import { getEntry, type RawValue } from '../raw.js';
import { isNull, type Reader } from '../reader.js';

/** Every key of the mapping form. */
export const USER_KEYS: readonly string[] = ['username'];

/** The user, or null for an empty value (and after an error). */
export function readUser(r: Reader, v: RawValue): UserConfig | null {
  if (isNull(v)) return null;
  if (v.kind === 'scalar') {
    const name = r.nonEmpty(v, 'user');
    return name === undefined ? null : { username: name };
  }
  const m = r.map(v, 'user', v.pos);
  if (!m) return null;
  r.checkKeys(m, USER_KEYS, '"user"');
  const u = getEntry(m, 'username');
  if (!u) {
    r.error('GV_ERR_CONFIG_REQUIRED', '"user" needs a "username"', m.pos);
    return null;
  }
  const name = r.nonEmpty(u.value, 'user.username');
  return name === undefined ? null : { username: name };
}
