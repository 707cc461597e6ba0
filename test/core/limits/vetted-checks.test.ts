/**
 * Vetted check sets (src/core/limits/decide-limits.ts): a frozen set with no bucket twice and
 * valid costs is checked once when it is built, and a take then skips the merge scan; anything
 * else is merged and checked on every take, as before.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from '../../../src/adapters/memory/rate-limiter.js';
import { isVetted, vetChecks } from '../../../src/core/limits/decide-limits.js';
import { createRequestLimits } from '../../../src/core/limits/request-limits.js';
import type { LimitCheck, LimitRule } from '../../../src/core/limits/types.js';

const rule: LimitRule = Object.freeze({ name: 'key-1s', windowMs: 1_000, limit: 10 });
const other: LimitRule = Object.freeze({ name: 'acct-1s', windowMs: 1_000, limit: 10 });
const check = (bucketKey: string, r: LimitRule, cost: number): LimitCheck =>
  Object.freeze({ bucketKey, rule: r, cost });

describe('vetted check sets', () => {
  it('marks a frozen set of frozen, distinct checks', () => {
    const set = vetChecks(Object.freeze([check('k', rule, 1), check('a', other, 1)]));
    expect(isVetted(set)).toBe(true);
  });

  it('does not mark a set that charges one bucket twice: the take still merges it', () => {
    const set = vetChecks(Object.freeze([check('k', rule, 2), check('k', rule, 3)]));
    expect(isVetted(set)).toBe(false);
    const result = createMemoryRateLimiter().take(set, 0);
    expect(result.results).toEqual([expect.objectContaining({ remaining: 5 })]);
  });

  it('does not mark a set that could still change', () => {
    expect(isVetted(vetChecks([check('k', rule, 1)]))).toBe(false);
    expect(isVetted(vetChecks(Object.freeze([{ bucketKey: 'k', rule, cost: 1 }])))).toBe(false);
  });

  it('refuses a bad cost when the set is built, as a take would', () => {
    expect(() => vetChecks(Object.freeze([check('k', rule, 1.5)]))).toThrow(RangeError);
  });

  it('createRequestLimits hands out vetted sets, and a take over one answers as over a copy', () => {
    const rules = createRequestLimits({
      perKey: [{ windowMs: 1_000, limit: 50 }],
      perAccount: [{ windowMs: 60_000, limit: 500 }],
      perIp: [{ windowMs: 1_000, limit: 80 }],
      orders: [{ windowMs: 10_000, limit: 5 }],
      authFailures: [{ windowMs: 60_000, limit: 10 }],
      accountOverrides: {},
    });
    const set = rules.checksFor('pk_1', 'acc_1', '192.0.2.1', 3, 'order.place');
    expect(isVetted(set)).toBe(true);
    expect(isVetted(rules.failureChecks('192.0.2.1'))).toBe(true);
    const a = createMemoryRateLimiter();
    const b = createMemoryRateLimiter();
    for (let t = 0; t < 20; t++) expect(a.take(set, t * 100)).toEqual(b.take([...set], t * 100));
  });

  describe('buckets remembered per vetted set (memory limiter)', () => {
    const limit2: LimitRule = Object.freeze({ name: 'key-1s', windowMs: 1_000, limit: 2 });
    const set = () => vetChecks(Object.freeze([check('k', limit2, 1)]));

    it('two sets for one bucket share it: the limit holds whichever set a take uses', () => {
      const limiter = createMemoryRateLimiter();
      const a = set();
      const b = set();
      expect(limiter.take(a, 0).allowed).toBe(true);
      expect(limiter.take(b, 1).allowed).toBe(true);
      expect(limiter.take(a, 2).allowed).toBe(false);
      expect(limiter.take(b, 3).allowed).toBe(false);
    });

    it('a bucket swept as idle is found anew, not charged behind the map’s back', () => {
      const limiter = createMemoryRateLimiter({ sweepIntervalMs: 1_000 });
      const a = set();
      const b = set();
      expect(limiter.take(a, 0).allowed).toBe(true);
      // At 5 s the sweep drops the idle bucket; `a` still remembers it.
      expect(limiter.take(b, 5_000).allowed).toBe(true);
      expect(limiter.size()).toBe(1);
      expect(limiter.take(a, 5_001).allowed).toBe(true);
      expect(limiter.take(b, 5_002).allowed).toBe(false);
      expect(limiter.take(a, 5_003).allowed).toBe(false);
      expect(limiter.size()).toBe(1);
    });

    it('a bucket evicted at the bound is found anew', () => {
      const limiter = createMemoryRateLimiter({ maxBuckets: 2 });
      const a = set();
      expect(limiter.take(a, 0).allowed).toBe(true);
      // Two other subjects fill the bound: the oldest bucket (k) is evicted.
      limiter.take(vetChecks(Object.freeze([check('x', limit2, 1)])), 1);
      limiter.take(vetChecks(Object.freeze([check('y', limit2, 1)])), 2);
      expect(limiter.evictedLive()).toBeGreaterThan(0);
      const b = set();
      expect(limiter.take(b, 3).allowed).toBe(true);
      expect(limiter.take(a, 4).allowed).toBe(true);
      expect(limiter.take(b, 5).allowed).toBe(false);
    });
  });
});
