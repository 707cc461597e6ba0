/**
 * The in-memory RateLimiter for a single node (the default). Synchronous, so the pipeline's
 * hot path never awaits. Memory is bounded:
 * - every `sweepIntervalMs` (measured on the callers' `nowMs`) buckets whose newest admission
 *   has aged out are dropped — an idle bucket is equivalent to no bucket, so this loses nothing;
 * - when a new bucket would exceed `maxBuckets`, a sweep runs first; if live buckets still fill
 *   more than 90 % of the bound, the oldest-created live buckets are dropped down to 90 %.
 *   Dropping a live bucket forgets its admissions (that subject gets a fresh window): the bound
 *   must be sized above the number of subjects active within the longest window.
 */
import { assertCost, isVetted, mergeChecks } from '../../core/limits/decide-limits.js';
import {
  decideWindow,
  isLogIdle,
  newestTime,
  pruneLog,
  recordAdmission,
  WindowLogState,
} from '../../core/limits/sliding-window.js';
import type { CheckResult, LimitCheck, LimitResult, RateLimiter } from '../../core/limits/types.js';

export interface MemoryRateLimiterOptions {
  /** Upper bound on stored buckets (one per subject and rule). Default 1,000,000. */
  readonly maxBuckets?: number;
  /** How often idle buckets are swept. Default 10 s. */
  readonly sweepIntervalMs?: number;
}

export interface MemoryRateLimiter extends RateLimiter {
  take(checks: readonly LimitCheck[], nowMs: number): LimitResult;
  /** Number of stored buckets (for metrics and tests). */
  size(): number;
  /** Live buckets dropped at the bound since creation (a metric worth alerting on). */
  evictedLive(): number;
}

/** A bucket is its own window log (one object less to reach per check on the hot path). */
class Bucket extends WindowLogState {
  /** Set when the bucket leaves the map (idle sweep, eviction): a cached reference is stale. */
  dropped = false;
  constructor(public windowMs: number) {
    super();
  }
}

/** Creates an in-memory limiter; see the module comment for the memory bound. */
export function createMemoryRateLimiter(options: MemoryRateLimiterOptions = {}): MemoryRateLimiter {
  const maxBuckets = options.maxBuckets ?? 1_000_000;
  const sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  // rule name → bucket key → bucket; two levels avoid building a joined key per check.
  const rules = new Map<string, Map<string, Bucket>>();
  let count = 0;
  let evicted = 0;
  let lastSweepMs = -Infinity;

  function sweep(nowMs: number): void {
    lastSweepMs = nowMs;
    for (const buckets of rules.values()) {
      for (const [key, bucket] of buckets) {
        if (isLogIdle(bucket, nowMs, bucket.windowMs)) {
          bucket.dropped = true;
          buckets.delete(key);
          count--;
        }
      }
    }
  }

  function evictOldest(target: number): void {
    // Maps iterate in insertion order: the first entries are the oldest-created buckets.
    for (const buckets of rules.values()) {
      for (const [key, bucket] of buckets) {
        if (count <= target) return;
        bucket.dropped = true;
        buckets.delete(key);
        count--;
        evicted++;
      }
    }
  }

  function makeRoom(nowMs: number): void {
    sweep(nowMs);
    const target = Math.floor(maxBuckets * 0.9);
    if (count > target) evictOldest(target);
  }

  /**
   * The buckets of a vetted check set, by position, as last found: a client repeating a call
   * reuses its (cached, frozen) check set, so its buckets are found without the two Map lookups
   * per check. The maps stay the truth: a dropped or not yet created bucket is looked up again.
   */
  const resolved = new WeakMap<readonly LimitCheck[], (Bucket | undefined)[]>();
  let slots: (Bucket | undefined)[] | undefined;

  function lookup(check: LimitCheck, i: number, nowMs: number): Bucket | undefined {
    let bucket = slots?.[i];
    if (bucket === undefined || bucket.dropped) {
      bucket = rules.get(check.rule.name)?.get(check.bucketKey);
      if (slots !== undefined) slots[i] = bucket;
      if (bucket === undefined) return undefined;
    }
    bucket.windowMs = check.rule.windowMs;
    return pruneLog(bucket, nowMs, check.rule.windowMs);
  }

  function charge(check: LimitCheck, i: number, log: Bucket | undefined, nowMs: number): void {
    if (check.cost === 0) return;
    if (log !== undefined) {
      recordAdmission(log, nowMs, check.cost);
      return;
    }
    if (count >= maxBuckets) makeRoom(nowMs);
    let buckets = rules.get(check.rule.name);
    if (buckets === undefined) {
      buckets = new Map();
      rules.set(check.rule.name, buckets);
    }
    const bucket = new Bucket(check.rule.windowMs);
    recordAdmission(bucket, nowMs, check.cost);
    buckets.set(check.bucketKey, bucket);
    count++;
    if (slots !== undefined) slots[i] = bucket;
  }

  // Scratch space reused by every take (take is synchronous, so never shared between calls).
  let logs: (Bucket | undefined)[] = [];

  /**
   * decideLimits fused with the store's lookup, in one pass and without a decision object per
   * check: after pruneLog the log holds only live entries, so `log.used` is the weight in the
   * window. Same results as decideLimits (the contract suite runs against both paths' figures).
   */
  function take(rawChecks: readonly LimitCheck[], nowMs: number): LimitResult {
    if (nowMs - lastSweepMs >= sweepIntervalMs) sweep(nowMs);
    // A set with remembered slots was vetted when they were made: one WeakMap probe, not two.
    slots = resolved.get(rawChecks);
    const vetted = slots !== undefined || isVetted(rawChecks);
    const checks = vetted ? rawChecks : mergeChecks(rawChecks);
    const n = checks.length;
    if (vetted && slots === undefined) {
      resolved.set(rawChecks, (slots = new Array<Bucket | undefined>(n)));
    }
    if (logs.length < n) logs = new Array<Bucket | undefined>(n);
    let allowed = true;
    let retryAfterMs = 0;
    let violated: string | undefined;
    for (let i = 0; i < n; i++) {
      const check = checks[i]!; // i < n
      if (!vetted) assertCost(check.cost);
      const log = lookup(check, i, nowMs);
      logs[i] = log;
      const used = log === undefined ? 0 : log.used;
      if (used + check.cost <= check.rule.limit) continue;
      allowed = false;
      // Refusals are the rare path: the exact wait comes from the reference decision.
      const wait = decideWindow(log, nowMs, check.rule, check.cost).retryAfterMs;
      if (violated === undefined || wait > retryAfterMs) {
        retryAfterMs = wait;
        violated = check.rule.name;
      }
    }
    const results = new Array<CheckResult>(n);
    for (let i = 0; i < n; i++) {
      const check = checks[i]!; // i < n
      const log = logs[i];
      const { rule, cost } = check;
      const used = log === undefined ? 0 : log.used;
      const lastTime = log === undefined ? undefined : newestTime(log);
      const charged = allowed && cost > 0;
      const newest = charged ? Math.max(nowMs, lastTime ?? nowMs) : lastTime;
      results[i] = {
        name: rule.name,
        bucketKey: check.bucketKey,
        limit: rule.limit,
        windowMs: rule.windowMs,
        remaining: allowed ? rule.limit - used - cost : rule.limit - used,
        resetMs: newest === undefined ? 0 : newest + rule.windowMs - nowMs,
      };
      if (allowed) charge(check, i, log, nowMs);
      logs[i] = undefined; // do not keep logs of dropped buckets alive
    }
    return violated === undefined
      ? { allowed, results, retryAfterMs }
      : { allowed, results, retryAfterMs, violated };
  }

  return {
    take,
    size: () => count,
    evictedLive: () => evicted,
  };
}
