/**
 * Rate-limit specification and the RateLimiter port. The algorithm is an exact sliding window
 * (see sliding-window.ts and docs/rate-limits.md): no interval of `windowMs` ever admits more
 * than `limit` weight, and a client pacing itself at `limit / windowMs` is never refused.
 */

/** A value, or a promise of it: the in-memory limiter answers synchronously on the hot path. */
export type MaybePromise<T> = T | Promise<T>;

/** One limit: at most `limit` weight in any interval of `windowMs` milliseconds. */
export interface LimitRule {
  /** Stable policy name, e.g. `key-1s`; `[a-z0-9][a-z0-9._-]*`, shown in headers. */
  readonly name: string;
  readonly windowMs: number;
  readonly limit: number;
}

/** One bucket to charge: the subject (`key:pk_live_…`, `acct:acc_…`, `ip:2001:db8::/64`). */
export interface LimitCheck {
  /** The subject; with `rule.name` it identifies one stored window log. */
  readonly bucketKey: string;
  readonly rule: LimitRule;
  /** Weight of this request for this rule: a non-negative integer. 0 charges nothing. */
  readonly cost: number;
}

/** The state of one check after the decision (charged if and only if the set was allowed). */
export interface CheckResult {
  readonly name: string;
  readonly bucketKey: string;
  readonly limit: number;
  readonly windowMs: number;
  /** Weight that could still be admitted right now. */
  readonly remaining: number;
  /** Milliseconds until the whole `limit` is available again (every admission has aged out). */
  readonly resetMs: number;
}

/**
 * The outcome of one `take`: either every check was charged (`allowed`) or none was.
 * `violated` names the refused rule that frees up last; `unavailable` marks a refusal because
 * the shared store is down and the limiter fails closed (no rule was evaluated then).
 */
export interface LimitResult {
  readonly allowed: boolean;
  readonly results: readonly CheckResult[];
  /** 0 when allowed; otherwise the earliest wait after which the same set can be allowed. */
  readonly retryAfterMs: number;
  readonly violated?: string;
  readonly unavailable?: true;
}

/** A replay id to record (set-if-absent, for `ttlMs`) in the same step as a charge. */
export interface ReplayMark {
  /** The guard's stored id (`replayKey(keyId, replayId)`). */
  readonly id: string;
  readonly ttlMs: number;
}

/**
 * The answer of `takeOnce`: `replayed` (the id was already recorded; nothing was charged),
 * `unavailable` (the store could not be asked: refuse, replay protection fails closed), or
 * undefined when the limiter cannot combine the two right now (the caller then asks the replay
 * guard and `take` separately).
 */
export type OnceResult = LimitResult | 'replayed' | 'unavailable' | undefined;

/** The port: checks a set of limits and charges all of them, or none, atomically. */
export interface RateLimiter {
  /**
   * `nowMs` is the caller's clock; a backend may use its own single clock instead (the Redis
   * limiter with `clock: 'redis'`). Checks sharing `bucketKey` and `rule.name` are merged
   * (their costs added) before the decision.
   */
  take(checks: readonly LimitCheck[], nowMs: number): MaybePromise<LimitResult>;
  /**
   * Optional: records `replay` (refusing a second sighting) and takes `checks` in one atomic
   * step, when replay ids live in the same store as the limits (the Redis limiter: one round
   * trip per request instead of two). Present only when the composition root wired the replay
   * guard's namespace into the limiter.
   */
  takeOnce?(
    checks: readonly LimitCheck[],
    nowMs: number,
    replay: ReplayMark,
  ): MaybePromise<OnceResult>;
}
