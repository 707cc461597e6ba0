/**
 * The window log's layout (src/core/limits/sliding-window.ts): older admissions in one array,
 * the newest inline, the oldest time cached. Checked against a plain list of admissions for
 * random arrivals, pruned at random times, and for the shape that keeps the hot path off the
 * array: admissions within one millisecond stay inline.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from '../../../src/adapters/memory/rate-limiter.js';
import { createRequestLimits } from '../../../src/core/limits/request-limits.js';
import {
  createWindowLog,
  decideWindow,
  isLogIdle,
  newestTime,
  pruneLog,
  recordAdmission,
} from '../../../src/core/limits/sliding-window.js';

const T0 = 1_700_000_000_000;

describe('window log against a plain list of admissions (property)', () => {
  it('keeps the live weight, the newest time, idleness and decisions of the plain list', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 200 }), // gap before this step
            fc.integer({ min: 0, max: 5 }), // cost (0: only prune)
            fc.boolean(), // prune before recording
          ),
          { maxLength: 300 },
        ),
        (windowMs, steps) => {
          const log = createWindowLog();
          const plain: { t: number; cost: number }[] = [];
          let now = T0;
          for (const [gap, cost, prune] of steps) {
            now += gap;
            if (prune) pruneLog(log, now, windowMs);
            // The plain list records what the log records: at max(now, newest) when coalescing.
            const newest = plain.at(-1)?.t ?? -Infinity;
            if (cost > 0) {
              recordAdmission(log, now, cost);
              plain.push({ t: Math.max(now, newest), cost });
            }
            const live = plain.filter((a) => a.t > now - windowMs);
            const liveWeight = live.reduce((sum, a) => sum + a.cost, 0);
            const limit = liveWeight + 1;
            const decision = decideWindow(log, now, { name: 'r', windowMs, limit }, 1);
            expect(decision.usedBefore).toBe(liveWeight);
            expect(decision.allowed).toBe(true);
            expect(decideWindow(log, now, { name: 'r', windowMs, limit }, 2).allowed).toBe(false);
            expect(isLogIdle(log, now, windowMs)).toBe(live.length === 0);
            pruneLog(log, now, windowMs);
            expect(log.used).toBe(liveWeight);
            expect(newestTime(log)).toBe(live.at(-1)?.t);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('window log layout', () => {
  it('keeps admissions within one millisecond inline, off the array', () => {
    const log = createWindowLog();
    for (let i = 0; i < 100; i++) recordAdmission(log, T0, 1);
    expect(log.entries).toHaveLength(0);
    expect(log).toMatchObject({ tailTime: T0, tailCost: 100, firstTime: T0, used: 100 });
  });

  it('moves the previous newest admission into the array when a later one arrives', () => {
    const log = createWindowLog();
    recordAdmission(log, T0, 2);
    recordAdmission(log, T0 + 5, 3);
    expect(log.entries).toEqual([T0, 2]);
    expect(log).toMatchObject({ tailTime: T0 + 5, tailCost: 3, firstTime: T0, used: 5 });
  });

  it('forgets the older admissions first, then the newest, and is empty after', () => {
    const log = createWindowLog();
    recordAdmission(log, T0, 2);
    recordAdmission(log, T0 + 500, 3);
    pruneLog(log, T0 + 1_000, 1_000);
    expect(log).toMatchObject({ entries: [], tailCost: 3, firstTime: T0 + 500, used: 3 });
    pruneLog(log, T0 + 1_500, 1_000);
    expect(log).toMatchObject({ entries: [], tailCost: 0, used: 0 });
    expect(newestTime(log)).toBeUndefined();
    expect(isLogIdle(log, T0 + 1_500, 1_000)).toBe(true);
  });

  it('answers the exact wait from the inline admission when it is the one to age out', () => {
    const log = createWindowLog();
    recordAdmission(log, T0, 4);
    const refused = decideWindow(log, T0 + 300, { name: 'r', windowMs: 1_000, limit: 4 }, 1);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 700, resetMs: 700 });
  });
});

describe('interned checks', () => {
  it('gives every key of an account the same account, IP and order check objects', () => {
    const w = [{ windowMs: 1_000, limit: 10 }];
    const rules = createRequestLimits({
      perKey: w,
      perAccount: w,
      perIp: w,
      orders: w,
      authFailures: w,
      accountOverrides: {},
    });
    const a = rules.checksFor('pk_a', 'acc_1', '10.0.0.1', 1, 'order.place');
    const b = rules.checksFor('pk_b', 'acc_1', '10.0.0.1', 1, 'order.place');
    expect(a.map((c) => c.bucketKey)).toEqual([
      'key:pk_a',
      'acct:acc_1',
      'ip:10.0.0.1',
      'ord:acc_1',
    ]);
    expect(a[0]).not.toBe(b[0]);
    expect(a.slice(1)).toEqual(b.slice(1));
    for (let i = 1; i < a.length; i++) expect(a[i]).toBe(b[i]);
    // Shared objects are still counted per bucket: two keys spend one account budget.
    const limiter = createMemoryRateLimiter();
    for (let i = 0; i < 5; i++) limiter.take(a, T0);
    const last = limiter.take(b, T0);
    expect(last.results.map((r) => r.remaining)).toEqual([9, 4, 4, 4]);
  });
});
