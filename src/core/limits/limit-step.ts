/**
 * Step 6 of the pipeline (rate limits) and the guards in front of step 1: IP-prefix bans and the
 * unauthenticated-failure budget. Sync with the in-memory limiter; a Promise when the limiter
 * (Redis) answers asynchronously.
 */
import type { Decision } from '../pipeline.js';
import type { ReasonCode } from '../reasons.js';
import type { Dialect } from '../signing/types.js';
import type { BanStatus, RefusalOutcome } from './bans.js';
import type { FailureBlocks } from './failure-blocks.js';
import type { LimitThrottle, RequestLimits } from './request-limits.js';
import type { LimitCheck, LimitResult, OnceResult, RateLimiter, ReplayMark } from './types.js';

/** The slice of a ban store the pipeline uses (createMemoryBanStore satisfies it). */
export interface BanBook {
  status(prefix: string, nowMs: number): BanStatus;
  recordRefusal(prefix: string, nowMs: number): RefusalOutcome;
}

/** A ban decided on the hot path; the composition root audits it off the hot path. */
export interface BanEvent {
  readonly prefix: string;
  readonly untilMs: number;
  readonly durationMs: number;
  readonly offence: number;
  readonly nowMs: number;
}

export interface PipelineLimits {
  readonly rules: RequestLimits;
  readonly limiter: RateLimiter;
  readonly bans: BanBook;
  readonly failureBlocks: FailureBlocks;
  readonly onBan?: (event: BanEvent) => void;
}

type Allow = Extract<Decision, { outcome: 'allow' }>;
type Deny = Extract<Decision, { outcome: 'deny' }>;

/** Failed verifications that spend the failure budget: what guessing keys or signatures causes. */
const FAILURES: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  'SIGNATURE_MALFORMED',
  'SIGNATURE_INVALID',
  'KEY_UNKNOWN',
  'TIMESTAMP_OUTSIDE_WINDOW',
  'DIGEST_MISMATCH',
  'PASSPHRASE_INVALID',
]);

function refusal(
  reason: ReasonCode,
  dialect: Dialect,
  base: { route?: Deny['route']; keyId?: string },
  retryAfterMs: number,
  limits?: LimitResult,
): Deny {
  return {
    outcome: 'deny',
    reason,
    dialect,
    retryAfterMs,
    ...(base.route ? { route: base.route } : {}),
    ...(base.keyId !== undefined ? { keyId: base.keyId } : {}),
    ...(limits ? { limits } : {}),
  };
}

/**
 * Every field of an allow decision. `satisfies` makes the compiler flag a field added to the
 * Decision type and not copied by withLimits below.
 */
const ALLOW_FIELDS = {
  outcome: true,
  dialect: true,
  route: true,
  key: true,
  credential: true,
  secretIndex: true,
  forwardQuery: true,
  forwardBody: true,
  limits: true,
  policy: true,
} as const satisfies Record<keyof Allow, true>;
void ALLOW_FIELDS;

/**
 * The allow decision with its charged limits. Written out field by field: in V8 an object
 * spread followed by another property (`{ ...decision, limits }`) leaves the fast clone path and
 * cost about 1 µs per request, as much as the limiter itself (measured with bench/micro.ts).
 */
function withLimits(d: Allow, limits: LimitResult): Allow {
  const { policy } = d;
  return policy === undefined
    ? {
        outcome: d.outcome,
        dialect: d.dialect,
        route: d.route,
        key: d.key,
        credential: d.credential,
        secretIndex: d.secretIndex,
        forwardQuery: d.forwardQuery,
        forwardBody: d.forwardBody,
        limits,
      }
    : {
        outcome: d.outcome,
        dialect: d.dialect,
        route: d.route,
        key: d.key,
        credential: d.credential,
        secretIndex: d.secretIndex,
        forwardQuery: d.forwardQuery,
        forwardBody: d.forwardBody,
        limits,
        policy,
      };
}

/**
 * A 429 for `prefix`: counts towards an escalating ban; the refusal that starts a ban is
 * answered 418 already (Binance does the same once an IP keeps going).
 */
export function refuseRateLimited(
  limits: PipelineLimits,
  prefix: string,
  nowMs: number,
  dialect: Dialect,
  base: { route?: Deny['route']; keyId?: string },
  retryAfterMs: number,
  result?: LimitResult,
): Deny {
  const outcome = limits.bans.recordRefusal(prefix, nowMs);
  if (outcome.ban !== undefined) {
    limits.onBan?.({ prefix, nowMs, ...outcome.ban });
    return refusal('IP_BANNED', dialect, base, outcome.ban.untilMs - nowMs);
  }
  return refusal('RATE_LIMITED', dialect, base, retryAfterMs, result);
}

/** Before any verification work: a banned prefix gets 418, a spent failure budget 429. */
export function guardPrefix(
  limits: PipelineLimits,
  prefix: string,
  nowMs: number,
  dialect: Dialect,
  route: Deny['route'],
): Deny | undefined {
  const ban = limits.bans.status(prefix, nowMs);
  const base = route ? { route } : {};
  if (ban.banned) return refusal('IP_BANNED', dialect, base, ban.retryAfterMs);
  const blockedMs = limits.failureBlocks.blockedFor(prefix, nowMs);
  if (blockedMs > 0) return refuseRateLimited(limits, prefix, nowMs, dialect, base, blockedMs);
  return undefined;
}

/** After a failed verification: charge the prefix's failure budget; a refused charge blocks it. */
export function chargeFailure(
  limits: PipelineLimits,
  prefix: string,
  nowMs: number,
  decision: Deny,
): Deny | Promise<Deny> {
  if (!FAILURES.has(decision.reason)) return decision;
  const checks = limits.rules.failureChecks(prefix);
  if (checks.length === 0) return decision;
  const settle = (result: LimitResult): Deny => {
    // Fail-closed Redis must not turn every bad signature into a 503: keep the real reason.
    if (result.allowed || result.unavailable) return decision;
    limits.failureBlocks.block(prefix, nowMs + result.retryAfterMs, nowMs);
    return refuseRateLimited(
      limits,
      prefix,
      nowMs,
      decision.dialect,
      decision,
      result.retryAfterMs,
    );
  };
  const taken = limits.limiter.take(checks, nowMs);
  return taken instanceof Promise ? taken.then(settle, () => decision) : settle(taken);
}

/** The checks a verified request is charged: its key, account, IP prefix and (orders) order count. */
function checksOf(
  limits: PipelineLimits,
  prefix: string,
  request: { readonly key: Allow['key']; readonly route: Allow['route'] },
  throttle: LimitThrottle | undefined,
): readonly LimitCheck[] {
  const { route, key } = request;
  return limits.rules.checksFor(
    key.id,
    key.accountId,
    prefix,
    route.route.weight,
    route.route.action,
    throttle,
  );
}

/**
 * Step 6: one atomic take of weight per key, account and IP prefix (and orders); `throttle`
 * shrinks the key's and the prefix's limits while a risk response is in force.
 */
export function chargeAllowed(
  limits: PipelineLimits,
  prefix: string,
  nowMs: number,
  decision: Allow,
  throttle?: LimitThrottle,
): Decision | Promise<Decision> {
  const { route, key } = decision;
  const checks = checksOf(limits, prefix, decision, throttle);
  if (checks.length === 0) return decision;
  const taken = limits.limiter.take(checks, nowMs);
  if (!(taken instanceof Promise)) return settleAllowed(limits, prefix, nowMs, decision, taken);
  return taken.then(
    (result) => settleAllowed(limits, prefix, nowMs, decision, result),
    () => refusal('RATE_LIMIT_UNAVAILABLE', decision.dialect, { route, keyId: key.id }, 1000),
  );
}

/** What chargeAllowedOnce answers: the charged decision, or what the caller must do instead. */
export type OnceOutcome = Decision | 'replayed' | 'unavailable' | undefined;

/**
 * Step 6 with the replay check folded in (RateLimiter.takeOnce, one round trip to Redis): the
 * replay id is recorded and the limits taken atomically. `replayed` / `unavailable` are for the
 * caller to answer; undefined when the limiter cannot combine them (no takeOnce, no checks for
 * this request, or the limiter is off Redis right now): the caller takes the separate path.
 */
export function chargeAllowedOnce(
  limits: PipelineLimits,
  prefix: string,
  nowMs: number,
  decision: Allow,
  replay: ReplayMark,
  throttle?: LimitThrottle,
): OnceOutcome | Promise<OnceOutcome> {
  const limiter = limits.limiter;
  if (limiter.takeOnce === undefined) return undefined;
  const checks = checksOf(limits, prefix, decision, throttle);
  if (checks.length === 0) return undefined;
  const settle = (once: OnceResult): OnceOutcome =>
    once === undefined || once === 'replayed' || once === 'unavailable'
      ? once
      : settleAllowed(limits, prefix, nowMs, decision, once);
  const taken = limiter.takeOnce(checks, nowMs, replay);
  return taken instanceof Promise
    ? taken.then(settle, () => 'unavailable' as const)
    : settle(taken);
}

function settleAllowed(
  limits: PipelineLimits,
  prefix: string,
  nowMs: number,
  decision: Allow,
  result: LimitResult,
): Decision {
  if (result.allowed) return withLimits(decision, result);
  const base = { route: decision.route, keyId: decision.key.id };
  if (result.unavailable)
    return refusal('RATE_LIMIT_UNAVAILABLE', decision.dialect, base, result.retryAfterMs);
  return refuseRateLimited(
    limits,
    prefix,
    nowMs,
    decision.dialect,
    base,
    result.retryAfterMs,
    result,
  );
}

/**
 * A request held for approval (202) counts against the limits like any request: otherwise a
 * client could flood the approval queue, and every hold costs a store write. Answered
 * RATE_LIMITED (or IP_BANNED) when the take is refused; the hold otherwise.
 */
export function chargeHeld(
  limits: PipelineLimits,
  prefix: string,
  nowMs: number,
  decision: Deny & { readonly held: NonNullable<Deny['held']> },
  throttle?: LimitThrottle,
): Deny | Promise<Deny> {
  const { route, key } = decision.held;
  const checks = checksOf(limits, prefix, decision.held, throttle);
  if (checks.length === 0) return decision;
  const base = { route, keyId: key.id };
  const settle = (result: LimitResult): Deny => {
    if (result.allowed) return { ...decision, limits: result };
    if (result.unavailable)
      return refusal('RATE_LIMIT_UNAVAILABLE', decision.dialect, base, result.retryAfterMs);
    return refuseRateLimited(
      limits,
      prefix,
      nowMs,
      decision.dialect,
      base,
      result.retryAfterMs,
      result,
    );
  };
  const taken = limits.limiter.take(checks, nowMs);
  return taken instanceof Promise
    ? taken.then(settle, () => refusal('RATE_LIMIT_UNAVAILABLE', decision.dialect, base, 1000))
    : settle(taken);
}
