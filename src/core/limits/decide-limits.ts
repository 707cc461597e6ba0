/**
 * The multi-limit decision: a request is checked against several rules at once (per key,
 * per account, per IP prefix, each with its windows) and is charged on all of them or on none.
 * Pure: the store evaluates this over the logs it holds, then applies the charges itself.
 */
import { decideWindow, type WindowLog } from './sliding-window.js';
import type { CheckResult, LimitCheck, LimitResult } from './types.js';

/** Throws a RangeError for a cost no caller should pass (a programming or route-table error). */
export function assertCost(cost: number): void {
  if (!Number.isSafeInteger(cost) || cost < 0) {
    throw new RangeError('a limit check cost must be a non-negative safe integer');
  }
}

/**
 * Check sets known to be merged (no bucket twice) with valid costs: built and frozen once by
 * createRequestLimits and reused by every request of a key, so a take need not check them again
 * (the merge scan alone was ~0.5 µs of the pipeline's ~2.5 µs limit step).
 */
const VETTED = new WeakSet<readonly LimitCheck[]>();

/**
 * Vets a frozen set of frozen checks once: throws like a take would on a bad cost, and marks
 * it when nothing repeats. Returns `checks`. Unfrozen sets are left alone (they could change).
 */
export function vetChecks(checks: readonly LimitCheck[]): readonly LimitCheck[] {
  if (!Object.isFrozen(checks) || !checks.every((check) => Object.isFrozen(check))) return checks;
  for (const check of checks) assertCost(check.cost);
  if (mergeChecks(checks) === checks) VETTED.add(checks);
  return checks;
}

/** Whether `checks` was vetted: merged, valid costs, immutable. */
export function isVetted(checks: readonly LimitCheck[]): boolean {
  return VETTED.has(checks);
}

/** True when two checks charge the same stored log. */
function sameBucket(a: LimitCheck, b: LimitCheck): boolean {
  return a.bucketKey === b.bucketKey && a.rule.name === b.rule.name;
}

/**
 * Merges checks that charge the same (bucketKey, rule.name) by adding their costs, so that a
 * set never counts one bucket twice against its own state. Returns `checks` itself (no copy)
 * when nothing repeats, which is the common case on the hot path.
 */
export function mergeChecks(checks: readonly LimitCheck[]): readonly LimitCheck[] {
  let repeated = false;
  for (let i = 1; i < checks.length && !repeated; i++) {
    for (let j = 0; j < i; j++) {
      // Both indices are within bounds of the loops above.
      if (sameBucket(checks[i]!, checks[j]!)) {
        repeated = true;
        break;
      }
    }
  }
  if (!repeated) return checks;
  const merged: LimitCheck[] = [];
  for (const check of checks) {
    const index = merged.findIndex((m) => sameBucket(m, check));
    const existing = merged[index];
    if (existing === undefined) merged.push(check);
    else merged[index] = { ...existing, cost: existing.cost + check.cost };
  }
  return merged;
}

/**
 * Decides a set of checks over their logs (`logs[i]` belongs to `checks[i]`; checks must be
 * merged first). Allowed only if every check fits; a refused set reports the state unchanged.
 * `retryAfterMs` is the largest wait among refused checks; `violated` names that check's rule.
 */
export function decideLimits(
  logs: readonly (WindowLog | undefined)[],
  nowMs: number,
  checks: readonly LimitCheck[],
): LimitResult {
  const decisions = checks.map((check, i) => {
    assertCost(check.cost);
    return decideWindow(logs[i], nowMs, check.rule, check.cost);
  });
  let allowed = true;
  let retryAfterMs = 0;
  let violated: string | undefined;
  for (let i = 0; i < decisions.length; i++) {
    const decision = decisions[i]!; // i < decisions.length
    if (decision.allowed) continue;
    allowed = false;
    if (violated === undefined || decision.retryAfterMs > retryAfterMs) {
      retryAfterMs = decision.retryAfterMs;
      violated = checks[i]!.rule.name; // decisions and checks have equal length
    }
  }
  const results = checks.map((check, i): CheckResult => {
    const decision = decisions[i]!; // same length as checks
    const charged = allowed && decision.allowed;
    return {
      name: check.rule.name,
      bucketKey: check.bucketKey,
      limit: check.rule.limit,
      windowMs: check.rule.windowMs,
      // When the set is refused nothing is charged, so an individually allowed check keeps its
      // pre-request remaining; decideWindow's figures assumed a charge.
      remaining:
        charged || !decision.allowed ? decision.remaining : decision.remaining + check.cost,
      resetMs: charged || !decision.allowed ? decision.resetMs : uncharged(logs[i], nowMs, check),
    };
  });
  return violated === undefined
    ? { allowed, results, retryAfterMs }
    : { allowed, results, retryAfterMs, violated };
}

/** resetMs of a check that fitted but was not charged because another check refused the set. */
function uncharged(log: WindowLog | undefined, nowMs: number, check: LimitCheck): number {
  return decideWindow(log, nowMs, check.rule, 0).resetMs;
}
