/**
 * The RateLimiter contract: every backend must pass it. Backends are driven with the caller's
 * clock (`nowMs`), so every case is deterministic.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LimitCheck, LimitRule, RateLimiter } from '../../src/core/limits/types.js';

export interface RateLimiterUnderTest {
  readonly limiter: RateLimiter;
  close?(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const perSecond: LimitRule = { name: 'key-1s', windowMs: 1_000, limit: 5 };
const perMinute: LimitRule = { name: 'acct-1m', windowMs: 60_000, limit: 8 };

function check(bucketKey: string, rule: LimitRule, cost = 1): LimitCheck {
  return { bucketKey, rule, cost };
}

/** Registers the contract tests for a backend; `create` is called once per test. */
export function describeRateLimiterContract(
  backend: string,
  create: () => Promise<RateLimiterUnderTest> | RateLimiterUnderTest,
): void {
  describe(`RateLimiter contract: ${backend}`, () => {
    let subject: RateLimiterUnderTest;
    const take = async (checks: LimitCheck[], nowMs: number) => subject.limiter.take(checks, nowMs);

    beforeEach(async () => {
      subject = await create();
    });
    afterEach(async () => {
      await subject.close?.();
    });

    it('admits up to the limit in one window and counts remaining down', async () => {
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const result = await take([check('k', perSecond)], T0 + i);
        expect(result.allowed).toBe(true);
        remaining.push(result.results[0]?.remaining ?? -1);
      }
      expect(remaining).toEqual([4, 3, 2, 1, 0]);
    });

    it('refuses beyond the limit and names the violated rule', async () => {
      await take([check('k', perSecond, 5)], T0);
      const result = await take([check('k', perSecond)], T0 + 10);
      expect(result).toMatchObject({ allowed: false, violated: 'key-1s', retryAfterMs: 990 });
    });

    it('admits again exactly after retryAfterMs', async () => {
      await take([check('k', perSecond, 5)], T0);
      const refused = await take([check('k', perSecond)], T0 + 10);
      expect(
        (await take([check('k', perSecond)], T0 + 10 + refused.retryAfterMs - 1)).allowed,
      ).toBe(false);
      expect((await take([check('k', perSecond)], T0 + 10 + refused.retryAfterMs)).allowed).toBe(
        true,
      );
    });

    it('slides: weight ages out windowMs after it was admitted, not at a fixed boundary', async () => {
      await take([check('k', perSecond, 3)], T0);
      await take([check('k', perSecond, 2)], T0 + 500);
      expect((await take([check('k', perSecond, 3)], T0 + 999)).allowed).toBe(false);
      expect((await take([check('k', perSecond, 3)], T0 + 1_000)).allowed).toBe(true);
      expect((await take([check('k', perSecond, 1)], T0 + 1_001)).allowed).toBe(false);
    });

    it('charges every check of an allowed set', async () => {
      const result = await take([check('k', perSecond, 2), check('a', perMinute, 3)], T0);
      expect(result.results.map((r) => r.remaining)).toEqual([3, 5]);
    });

    it('charges nothing when one check of the set is refused', async () => {
      await take([check('a', perMinute, 8)], T0);
      const refused = await take([check('k', perSecond, 2), check('a', perMinute, 1)], T0 + 1);
      expect(refused).toMatchObject({ allowed: false, violated: 'acct-1m' });
      expect(refused.results.map((r) => r.remaining)).toEqual([5, 0]);
      expect((await take([check('k', perSecond, 5)], T0 + 2)).allowed).toBe(true);
    });

    it('reports the longest wait among refused checks', async () => {
      await take([check('k', perSecond, 5), check('a', perMinute, 5)], T0);
      await take([check('a', perMinute, 3)], T0 + 100);
      const refused = await take([check('k', perSecond, 1), check('a', perMinute, 1)], T0 + 200);
      expect(refused).toMatchObject({ violated: 'acct-1m', retryAfterMs: 59_800 });
    });

    it('refuses a cost above the limit without changing state', async () => {
      const refused = await take([check('k', perSecond, 6)], T0);
      expect(refused).toMatchObject({ allowed: false, retryAfterMs: 1_000 });
      expect((await take([check('k', perSecond, 5)], T0)).allowed).toBe(true);
    });

    it('allows a zero cost without charging', async () => {
      await take([check('k', perSecond, 0)], T0);
      expect((await take([check('k', perSecond, 5)], T0 + 1)).allowed).toBe(true);
    });

    it('keeps buckets apart by bucket key and by rule name', async () => {
      const other: LimitRule = { ...perSecond, name: 'ip-1s' };
      await take([check('k', perSecond, 5)], T0);
      const result = await take([check('k2', perSecond, 5), check('k', other, 5)], T0 + 1);
      expect(result.allowed).toBe(true);
    });

    it('merges repeated checks of one bucket so it is not counted twice against itself', async () => {
      const result = await take([check('k', perSecond, 3), check('k', perSecond, 3)], T0);
      expect(result.allowed).toBe(false);
      expect((await take([check('k', perSecond, 5)], T0 + 1)).allowed).toBe(true);
    });

    it('reports resetMs as the time until every admission has aged out', async () => {
      await take([check('k', perSecond, 1)], T0);
      const result = await take([check('k', perSecond, 1)], T0 + 300);
      expect(result.results[0]?.resetMs).toBe(1_000);
    });

    it('treats a bucket idle for a whole window as new', async () => {
      await take([check('k', perSecond, 5)], T0);
      const result = await take([check('k', perSecond, 5)], T0 + 1_000);
      expect(result).toMatchObject({ allowed: true, retryAfterMs: 0 });
      expect(result.results[0]?.remaining).toBe(0);
    });
  });
}
