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
 * Admissions of one bucket, oldest first: older ones as (time, cost) pairs in `entries` from
 * `head` (`entries[k]` a time, `entries[k + 1]` its cost), the newest inline in `tailTime` /
 * `tailCost`. Times are non-decreasing; `used` is the sum of the live costs; `firstTime` is the
 * oldest live admission's time. When `tailCost` is 0 the log is empty (and so is `entries`
 * from `head`).
 *
 * Why this shape: the limiter touches a few cold buckets per request, and every object it
 * reaches is a likely cache miss (~0.1 µs each here). With the newest entry and the oldest time
 * inline, a request that finds nothing expired and lands in the same millisecond as the last
 * one, or in a fresh bucket, reads and writes the bucket object alone; the array is touched
 * only to move the previous newest entry into it, or to drop expired entries.
 * Mutated only by `recordAdmission` and `pruneLog` (the store's apply step); the decisions
 * never mutate it.
 */
export interface WindowLog {
  entries: number[];
  head: number;
  used: number;
  tailTime: number;
  tailCost: number;
  firstTime: number;
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

/**
 * Positions in a log run over the even indices of `entries` from `head`, then `entries.length`
 * for the inline newest entry; `end` is one step past the last.
 */
function end(log: WindowLog): number {
  return log.tailCost > 0 ? log.entries.length + 2 : log.entries.length;
}

function timeAt(log: WindowLog, i: number): number {
  return i < log.entries.length ? (log.entries[i] ?? log.tailTime) : log.tailTime;
}

function costAt(log: WindowLog, i: number): number {
  return i < log.entries.length ? (log.entries[i + 1] ?? 0) : log.tailCost;
}

/** Position of the first entry still inside the window (time > nowMs − windowMs). */
function firstLive(log: WindowLog, nowMs: number, windowMs: number): number {
  const horizon = nowMs - windowMs;
  // The common case, decided from the bucket object alone: nothing has expired.
  if (log.firstTime > horizon) return log.head;
  const last = end(log);
  let i = log.head;
  while (i < last && timeAt(log, i) <= horizon) i += 2;
  return i;
}

function sumFrom(log: WindowLog, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i += 2) sum += costAt(log, i);
  return sum;
}

/** The newest entry's time, or undefined when the log holds no live entry from `from`. */
export function newestTime(log: WindowLog, from = log.head): number | undefined {
  return log.tailCost > 0 && from < end(log) ? log.tailTime : undefined;
}

/** Earliest wait until `need` weight has aged out of the window, scanning from `from`. */
function waitToFree(log: WindowLog, from: number, need: number, nowMs: number, windowMs: number) {
  let freed = 0;
  const last = end(log);
  for (let i = from; i < last; i += 2) {
    freed += costAt(log, i);
    if (freed >= need) return timeAt(log, i) + windowMs - nowMs;
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
  const lastTime = log === undefined ? undefined : newestTime(log, live);
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

/**
 * An empty log, as a class so that a store can extend it with fields of its own and still give
 * every log one shape (V8 keeps property access on such objects monomorphic).
 */
export class WindowLogState implements WindowLog {
  entries: number[] = [];
  head = 0;
  used = 0;
  tailTime = -Infinity;
  tailCost = 0;
  firstTime = Infinity;
}

/** An empty log. */
export function createWindowLog(): WindowLog {
  return new WindowLogState();
}

/**
 * Drops entries that have aged out of `windowMs` at `nowMs` (they can no longer affect any
 * decision at or after `nowMs`); mutates and returns `log`. Compacts the array when half dead.
 */
export function pruneLog<L extends WindowLog>(log: L, nowMs: number, windowMs: number): L {
  const live = firstLive(log, nowMs, windowMs);
  if (live === log.head) return log;
  log.used -= sumFrom(log, log.head, live);
  const { entries } = log;
  if (live >= entries.length) {
    // Only the newest entry may be left: the array part is empty.
    const everything = live >= end(log);
    entries.length = 0;
    log.head = 0;
    if (everything) {
      log.tailCost = 0;
      log.tailTime = -Infinity;
      log.firstTime = Infinity;
      log.used = 0;
    } else {
      log.firstTime = log.tailTime;
    }
    return log;
  }
  log.head = live;
  log.firstTime = entries[live] ?? log.tailTime;
  if (log.head > 64 && log.head * 2 > entries.length) {
    entries.splice(0, log.head);
    log.head = 0;
  }
  return log;
}

/**
 * Records an admission of `cost` at `nowMs` (at the last entry's time if that is later, which
 * keeps the log ordered and only makes the entry live longer); mutates and returns `log`.
 * Call it only for a decision that was allowed.
 */
export function recordAdmission<L extends WindowLog>(log: L, nowMs: number, cost: number): L {
  if (cost <= 0) return log;
  if (log.tailCost > 0 && log.tailTime >= nowMs) {
    // Same millisecond (or a caller clock behind the newest entry): coalesce into that entry.
    log.tailCost += cost;
  } else {
    if (log.tailCost > 0) log.entries.push(log.tailTime, log.tailCost);
    else log.firstTime = nowMs;
    log.tailTime = nowMs;
    log.tailCost = cost;
  }
  log.used += cost;
  return log;
}

/** True when the log holds nothing that can matter at `nowMs` (the bucket can be dropped). */
export function isLogIdle(log: WindowLog, nowMs: number, windowMs: number): boolean {
  return log.tailCost === 0 || log.tailTime + windowMs <= nowMs;
}
