/**
 * An app's restart policy: counts consecutive failed attempts (a new instance that did not become
 * ready, or one that crashed soon after it did) and says how long to wait before the next one, with
 * exponential backoff, until `max_retries` is reached and the app gives up (`fatal`). The
 * {@link FailurePolicy} around it holds the timers: the pending retry, and the "stayed up long
 * enough" timer that forgives earlier failures.
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

/** What a crash of a serving instance calls for. */
export type CrashVerdict = { replaceNow: true } | { replaceNow: false; verdict: FailureVerdict };

/**
 * The failure side of an app (docs/architecture.md "Restart policy"): the policy's counting plus its
 * timers. It decides; the App acts (logs, hooks, states) and runs what the timers call back.
 */
export class FailurePolicy {
  #policy: RestartPolicy;
  readonly #opts: BackoffOptions;
  #retryTimer: NodeJS.Timeout | null = null;
  #stableTimer: NodeJS.Timeout | null = null;

  constructor(maxRetries: number, opts: BackoffOptions = {}) {
    this.#opts = opts;
    this.#policy = new RestartPolicy(maxRetries, opts);
  }

  /** A new `max_retries` (a reload): the count starts over. */
  configure(maxRetries: number): void {
    this.#policy = new RestartPolicy(maxRetries, this.#opts);
  }

  /** An operator acted, or an instance stayed up: forget earlier failures. */
  reset(): void {
    this.#policy.reset();
  }

  /** Consecutive failures now: how far the backoff has gone. */
  get count(): number {
    return this.#policy.failures;
  }

  /** An attempt to start an instance failed. */
  failed(): FailureVerdict {
    return this.#policy.fail();
  }

  /**
   * A serving instance that had been up `upMs` crashed. After a stable run the count starts over;
   * the first failure is replaced at once (a crash is not yet a crash loop), later ones back off.
   */
  crashed(upMs: number): CrashVerdict {
    if (upMs >= this.#policy.stableMs) this.#policy.reset();
    if (this.#policy.failures === 0) {
      this.#policy.fail();
      return { replaceNow: true };
    }
    return { replaceNow: false, verdict: this.#policy.fail() };
  }

  /** Run `retry` after `ms`, replacing a retry already pending. */
  scheduleRetry(ms: number, retry: () => void): void {
    this.cancelRetry();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      retry();
    }, ms);
  }

  /** Drop the pending retry, if any. */
  cancelRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  /** Forgive earlier failures once `stillUp()` holds `stableMs` from now (one timer: the newest instance's). */
  armStable(stillUp: () => boolean): void {
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#stableTimer = null;
      if (stillUp()) this.#policy.reset();
    }, this.#policy.stableMs);
    this.#stableTimer.unref();
  }

  /** Drop every timer (the app is removed). */
  close(): void {
    this.cancelRetry();
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    this.#stableTimer = null;
  }
}
