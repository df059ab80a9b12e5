/**
 * An app's restart policy: counts consecutive failed attempts (a new instance that did not become
 * ready, or one that crashed soon after it did) and says how long to wait before the next one, with
 * exponential backoff, until `max_retries` is reached and the app gives up (`fatal`).
 */

/** Timings of the policy; the defaults suit production, tests shrink them. */
export interface BackoffOptions {
  /** Delay after the first failure, ms (default 500). */
  baseMs?: number;
  /** Upper bound of the delay, ms (default 30 000). */
  maxMs?: number;
  /** An instance that stays up this long resets the failure count, ms (default 30 000). */
  stableMs?: number;
}

/** What the policy decided after a failure. */
export interface FailureVerdict {
  /** Consecutive failures so far, this one included. */
  attempt: number;
  /** Wait this long before the next attempt, or null: give up. */
  nextAttemptMs: number | null;
}

/** Backoff and give-up rule of one app. */
export class RestartPolicy {
  readonly #maxRetries: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly stableMs: number;
  #failures = 0;

  constructor(maxRetries: number, opts: BackoffOptions = {}) {
    this.#maxRetries = maxRetries;
    this.#baseMs = opts.baseMs ?? 500;
    this.#maxMs = opts.maxMs ?? 30_000;
    this.stableMs = opts.stableMs ?? 30_000;
  }

  /** Consecutive failures since the last success that stayed up. */
  get failures(): number {
    return this.#failures;
  }

  /** Record one failed attempt and decide what comes next. */
  fail(): FailureVerdict {
    this.#failures++;
    if (this.#failures > this.#maxRetries) return { attempt: this.#failures, nextAttemptMs: null };
    return { attempt: this.#failures, nextAttemptMs: this.delay(this.#failures) };
  }

  /** The backoff before retry number `attempt` (1-based): base × 2^(attempt-1), capped. */
  delay(attempt: number): number {
    return Math.min(this.#maxMs, this.#baseMs * 2 ** Math.max(0, attempt - 1));
  }

  /** An instance stayed up long enough (or an operator acted): start counting from zero. */
  reset(): void {
    this.#failures = 0;
  }
}
