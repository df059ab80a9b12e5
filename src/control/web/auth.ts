/**
 * The dashboard's sessions (docs/architecture.md "Web dashboard" "Auth"). Logging in with the control token creates a
 * session: a random id sent as an HttpOnly, SameSite=Strict cookie, and a CSRF token the page reads
 * from `GET /api/session` and sends back in `X-CSRF-Token` with every request that changes
 * something. Sessions live in memory only (a daemon restart logs everyone out), expire a fixed time
 * after login, and are capped in number (the oldest goes first). The server (./server.ts) holds one
 * {@link Sessions} and one {@link LoginThrottle}.
 */
import { createHash, randomBytes } from 'node:crypto';
import { tokensEqual } from '../token.js';

/** How long a session lasts after login, ms. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Most sessions kept at once; a new login past it ends the oldest. */
export const MAX_SESSIONS = 64;

/** One logged-in browser. */
export interface Session {
  /** The CSRF token of this session (sent back in `X-CSRF-Token`). */
  readonly csrf: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** The map key of a session id: its hash, so that a lookup reveals nothing about stored ids by its timing. */
function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** The sessions of one dashboard. `now` is injectable for tests. */
export class Sessions {
  readonly #byKey = new Map<string, Session>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs?: number; max?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? SESSION_TTL_MS;
    this.#max = opts.max ?? MAX_SESSIONS;
    this.#now = opts.now ?? Date.now;
  }

  /** Sessions alive now. */
  get size(): number {
    this.#purge();
    return this.#byKey.size;
  }

  /** The session's lifetime, seconds (the cookie's Max-Age). */
  get ttlSeconds(): number {
    return Math.floor(this.#ttlMs / 1000);
  }

  /** A new session; `id` goes into the cookie and nowhere else. */
  create(): { id: string; session: Session } {
    this.#purge();
    while (this.#byKey.size >= this.#max) this.#byKey.delete(this.#byKey.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: Session = { csrf: randomBytes(32).toString('base64url'), createdAt: now, expiresAt: now + this.#ttlMs };
    this.#byKey.set(keyOf(id), session);
    return { id, session };
  }

  /** The live session of a cookie value, or null (none, unknown, expired). */
  get(id: string | null): Session | null {
    if (id === null || id === '') return null;
    const key = keyOf(id);
    const s = this.#byKey.get(key);
    if (!s) return null;
    if (s.expiresAt <= this.#now()) {
      this.#byKey.delete(key);
      return null;
    }
    return s;
  }

  /** End a session (logout). */
  delete(id: string | null): void {
    if (id !== null) this.#byKey.delete(keyOf(id));
  }

  /** True when `presented` is the session's CSRF token (constant time). */
  static csrfMatches(session: Session, presented: string | undefined | string[]): boolean {
    return typeof presented === 'string' && presented !== '' && tokensEqual(presented, session.csrf);
  }

  /** Drop expired sessions (insertion order is creation order, so the oldest come first). */
  #purge(): void {
    const now = this.#now();
    for (const [key, s] of this.#byKey) {
      if (s.expiresAt > now) break;
      this.#byKey.delete(key);
    }
  }
}

/** The value of cookie `name` in a `Cookie` header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** A `Set-Cookie` value for the session: HttpOnly, SameSite=Strict, Path=/, Secure behind TLS. */
export function sessionCookie(name: string, id: string, maxAgeS: number, secure: boolean): string {
  return `${name}=${id}; Max-Age=${maxAgeS}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** A `Set-Cookie` value that removes the session cookie. */
export function clearedCookie(name: string, secure: boolean): string {
  return sessionCookie(name, '', 0, secure);
}

/**
 * A bound on wrong tokens: at most `max` failed logins per `windowMs` over the whole dashboard;
 * past it every login attempt is refused (429) until the window ends. Guessing a generated token
 * is hopeless anyway; this keeps a short configured one from being tried quickly, and keeps a
 * flood of attempts from filling the daemon's log.
 */
export class LoginThrottle {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #windowStart = 0;
  #failures = 0;

  constructor(opts: { max?: number; windowMs?: number; now?: () => number } = {}) {
    this.#max = opts.max ?? 20;
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** True when a login may be tried now. */
  allow(): boolean {
    this.#roll();
    return this.#failures < this.#max;
  }

  /** Count a wrong token; returns how many failed in this window so far. */
  fail(): number {
    this.#roll();
    return ++this.#failures;
  }

  #roll(): void {
    const now = this.#now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#failures = 0;
    }
  }
}
