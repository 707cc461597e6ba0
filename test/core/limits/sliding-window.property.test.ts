import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from '../../../src/adapters/memory/rate-limiter.js';
import { decideLimits } from '../../../src/core/limits/decide-limits.js';
import {
  createWindowLog,
  recordAdmission,
  type WindowLog,
} from '../../../src/core/limits/sliding-window.js';
import type { LimitCheck, LimitRule } from '../../../src/core/limits/types.js';

const ruleArb = fc.record({
  name: fc.constant('r'),
  windowMs: fc.integer({ min: 1, max: 2_000 }),
  limit: fc.integer({ min: 1, max: 50 }),
});

/** Sorted integer arrival times with a weight each. */
function arrivalsArb(maxCost: number) {
  return fc
    .array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: maxCost })), {
      maxLength: 200,
    })
    .map((steps) => {
      let t = 1_700_000_000_000;
      return steps.map(([gap, cost]) => ({ t: (t += gap), cost }));
    });
}

/** The largest admitted weight within any half-open interval (t − windowMs, t]. */
function maxWindowWeight(admitted: readonly { t: number; cost: number }[], windowMs: number) {
  let max = 0;
  for (const end of admitted) {
    let sum = 0;
    for (const a of admitted) if (a.t > end.t - windowMs && a.t <= end.t) sum += a.cost;
    max = Math.max(max, sum);
  }
  return max;
}

describe('sliding window (properties)', () => {
  it('never admits more than the limit in any window', () => {
    fc.assert(
      fc.property(
        ruleArb.chain((rule) => fc.tuple(fc.constant(rule), arrivalsArb(rule.limit + 2))),
        ([rule, arrivals]) => {
          const limiter = createMemoryRateLimiter({ sweepIntervalMs: 500 });
          const admitted = arrivals.filter(
            ({ t, cost }) => limiter.take([{ bucketKey: 'b', rule, cost }], t).allowed,
          );
          expect(maxWindowWeight(admitted, rule.windowMs)).toBeLessThanOrEqual(rule.limit);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never refuses a client pacing one unit every windowMs/limit', () => {
    fc.assert(
      fc.property(ruleArb, fc.integer({ min: 1, max: 400 }), (rule: LimitRule, count) => {
        const limiter = createMemoryRateLimiter();
        const start = 1_700_000_000_000;
        for (let k = 0; k < count; k++) {
          // Integer clocks: the k-th unit goes at the first millisecond at or after k·T.
          const t = start + Math.ceil((k * rule.windowMs) / rule.limit);
          expect(limiter.take([{ bucketKey: 'b', rule, cost: 1 }], t).allowed).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a refused set changes no state: a twin that never saw it answers identically', () => {
    const rules: LimitRule[] = [
      { name: 'key-1s', windowMs: 1_000, limit: 5 },
      { name: 'acct-1s', windowMs: 1_000, limit: 8 },
      { name: 'acct-1m', windowMs: 60_000, limit: 30 },
    ];
    const requestArb = fc.record({
      gap: fc.integer({ min: 0, max: 700 }),
      key: fc.constantFrom('k1', 'k2'),
      cost: fc.integer({ min: 0, max: 4 }),
    });
    fc.assert(
      fc.property(fc.array(requestArb, { maxLength: 150 }), (requests) => {
        const all = createMemoryRateLimiter();
        const twin = createMemoryRateLimiter();
        let t = 1_700_000_000_000;
        for (const { gap, key, cost } of requests) {
          t += gap;
          const checks: LimitCheck[] = [
            { bucketKey: key, rule: rules[0]!, cost },
            { bucketKey: 'acct', rule: rules[1]!, cost },
            { bucketKey: 'acct', rule: rules[2]!, cost },
          ];
          const result = all.take(checks, t);
          if (result.allowed) expect(twin.take(checks, t)).toEqual(result);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('decideLimits does not mutate the logs it reads', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 3 })), {
          maxLength: 30,
        }),
        fc.integer({ min: 0, max: 5 }),
        (entries, cost) => {
          const log: WindowLog = createWindowLog();
          let t = 1_000;
          for (const [gap, c] of entries) recordAdmission(log, (t += gap), c);
          const before = structuredClone(log);
          const rule = { name: 'r', windowMs: 400, limit: 10 };
          decideLimits([log, undefined], t + 10, [
            { bucketKey: 'a', rule, cost },
            { bucketKey: 'b', rule, cost },
          ]);
          expect(log).toEqual(before);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('allows a set exactly when every check would be allowed alone', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 6 }),
        (preloads, cost) => {
          const rule = { name: 'r', windowMs: 1_000, limit: 10 };
          const logs = preloads.map((used) => recordAdmission(createWindowLog(), 0, used));
          const checks = preloads.map((_, i) => ({ bucketKey: `b${i}`, rule, cost }));
          const result = decideLimits(logs, 500, checks);
          expect(result.allowed).toBe(preloads.every((used) => used + cost <= rule.limit));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('sliding window retryAfterMs (property)', () => {
  it('is the exact wait: refused one millisecond earlier, allowed at it', () => {
    fc.assert(
      fc.property(
        ruleArb.chain((rule) => fc.tuple(fc.constant(rule), arrivalsArb(rule.limit))),
        fc.integer({ min: 1, max: 50 }),
        ([rule, arrivals], rawCost) => {
          const cost = Math.min(rawCost, rule.limit);
          const limiter = createMemoryRateLimiter();
          for (const { t, cost: c } of arrivals)
            limiter.take([{ bucketKey: 'b', rule, cost: c }], t);
          const now = (arrivals.at(-1)?.t ?? 0) + 1;
          // Each probe replays the same history on a fresh limiter, then asks at time `t`.
          const probe = (t: number) => {
            const twin = createMemoryRateLimiter();
            for (const a of arrivals) twin.take([{ bucketKey: 'b', rule, cost: a.cost }], a.t);
            return twin.take([{ bucketKey: 'b', rule, cost }], t);
          };
          const first = limiter.take([{ bucketKey: 'b', rule, cost }], now);
          if (first.allowed) return;
          expect(probe(now + first.retryAfterMs).allowed).toBe(true);
          expect(probe(now + first.retryAfterMs - 1).allowed).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});
