/**
 * The exact sliding-window decision for one rule, over a log of admissions.
 *
 * Guarantee (checked by test/core/limits/sliding-window.property.test.ts): with integer
 * millisecond times, for every t the admitted weight with times in (t - windowMs, t] is at most
 * `limit`; and a client sending one unit every windowMs/limit ms is never refused.
 *
 * Why not GCRA: GCRA with burst = limit and emission interval T = windowMs/limit is a token
 * bucket; it admits `limit` at once and then one unit every T, i.e. up to 2·limit − 1 units in
 * one window. Any O(1)-state scheme that allows a burst must forget when the burst happened, so
 * it cannot promise "never more than limit in any window". The log costs O(entries) memory, but
 * entries are coalesced per millisecond and a window never holds more than `limit` weight, so a
 * bucket holds at most min(limit, windowMs) entries.
 */
import type { LimitRule } from './types.js';

/**
 * Admissions of one bucket, oldest first from `head`. Times are non-decreasing; `used` is the
 * sum of `costs[head..]`. Mutated only by `recordAdmission` and `pruneLog` (the store's apply
 * step); the decision functions never mutate it.
 */
export interface WindowLog {
  times: number[];
  costs: number[];
  head: number;
  used: number;
}

export interface WindowDecision {
  readonly allowed: boolean;
  /** Weight admitted in the window at `nowMs`, before this request. */
  readonly usedBefore: number;
  /** Weight still admissible right now after this decision (charged only if allowed). */
  readonly remaining: number;
  /** Milliseconds until every admission (including this one if allowed) has aged out. */
  readonly resetMs: number;
  /** 0 if allowed; else the earliest wait after which this cost fits (windowMs if it never can). */
  readonly retryAfterMs: number;
}

/** Index of the first entry still inside the window (time > nowMs − windowMs). */
function firstLive(log: WindowLog, nowMs: number, windowMs: number): number {
  const horizon = nowMs - windowMs;
  let i = log.head;
  while (i < log.times.length && (log.times[i] ?? Infinity) <= horizon) i++;
  return i;
}

function sumFrom(log: WindowLog, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += log.costs[i] ?? 0;
  return sum;
}

/** Earliest wait until `need` weight has aged out of the window, scanning from `from`. */
function waitToFree(log: WindowLog, from: number, need: number, nowMs: number, windowMs: number) {
  let freed = 0;
  for (let i = from; i < log.times.length; i++) {
    freed += log.costs[i] ?? 0;
    if (freed >= need) return (log.times[i] ?? nowMs) + windowMs - nowMs;
  }
  return windowMs;
}

/** Decides whether `cost` fits `rule` at `nowMs` given the bucket's log; pure. */
export function decideWindow(
  log: WindowLog | undefined,
  nowMs: number,
  rule: LimitRule,
  cost: number,
): WindowDecision {
  const { limit, windowMs } = rule;
  const live = log === undefined ? 0 : firstLive(log, nowMs, windowMs);
  const usedBefore = log === undefined ? 0 : log.used - sumFrom(log, log.head, live);
  const lastTime = log === undefined || live >= log.times.length ? undefined : log.times.at(-1);
  const allowed = usedBefore + cost <= limit;
  if (allowed) {
    const charged = cost > 0;
    // A charged admission is recorded at max(now, last time) so the log stays ordered.
    const newest = charged ? Math.max(nowMs, lastTime ?? nowMs) : lastTime;
    return {
      allowed,
      usedBefore,
      remaining: limit - usedBefore - cost,
      resetMs: newest === undefined ? 0 : newest + windowMs - nowMs,
      retryAfterMs: 0,
    };
  }
  const retryAfterMs =
    cost > limit || log === undefined
      ? windowMs // can never fit: the route's weight exceeds the rule (a configuration error)
      : waitToFree(log, live, usedBefore + cost - limit, nowMs, windowMs);
  return {
    allowed,
    usedBefore,
    remaining: limit - usedBefore,
    resetMs: lastTime === undefined ? 0 : lastTime + windowMs - nowMs,
    retryAfterMs,
  };
}

/** An empty log. */
export function createWindowLog(): WindowLog {
  return { times: [], costs: [], head: 0, used: 0 };
}

/**
 * Drops entries that have aged out of `windowMs` at `nowMs` (they can no longer affect any
 * decision at or after `nowMs`); mutates and returns `log`. Compacts the arrays when half dead.
 */
export function pruneLog(log: WindowLog, nowMs: number, windowMs: number): WindowLog {
  const live = firstLive(log, nowMs, windowMs);
  if (live === log.head) return log;
  log.used -= sumFrom(log, log.head, live);
  log.head = live;
  if (log.head === log.times.length) {
    log.times.length = 0;
    log.costs.length = 0;
    log.head = 0;
  } else if (log.head > 32 && log.head * 2 > log.times.length) {
    log.times.splice(0, log.head);
    log.costs.splice(0, log.head);
    log.head = 0;
  }
  return log;
}

/**
 * Records an admission of `cost` at `nowMs` (at the last entry's time if that is later, which
 * keeps the log ordered and only makes the entry live longer); mutates and returns `log`.
 * Call it only for a decision that was allowed.
 */
export function recordAdmission(log: WindowLog, nowMs: number, cost: number): WindowLog {
  if (cost <= 0) return log;
  const last = log.times.length - 1;
  const lastTime = last >= log.head ? log.times[last] : undefined;
  if (lastTime !== undefined && lastTime >= nowMs) {
    // Same millisecond (or a caller clock behind the newest entry): coalesce into that entry.
    log.costs[last] = (log.costs[last] ?? 0) + cost;
  } else {
    log.times.push(nowMs);
    log.costs.push(cost);
  }
  log.used += cost;
  return log;
}

/** True when the log holds nothing that can matter at `nowMs` (the bucket can be dropped). */
export function isLogIdle(log: WindowLog, nowMs: number, windowMs: number): boolean {
  const lastTime = log.times.length > log.head ? log.times.at(-1) : undefined;
  return lastTime === undefined || lastTime + windowMs <= nowMs;
}
