/**
 * The limits as the pipeline applies them (evaluateRequest with the memory limiter, signed
 * native requests, an injected clock): for random arrival sequences over routes of different
 * weights, two keys of one account and two client addresses, no per-key, per-account, per-IP or
 * order window ever admits more than its limit; and a client pacing itself exactly at a limit is
 * never refused (docs/rate-limits.md, guarantees 1 and 2).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryBanStore } from '../../../src/adapters/memory/ban-store.js';
import { createMemoryRateLimiter } from '../../../src/adapters/memory/rate-limiter.js';
import { createFailureBlocks } from '../../../src/core/limits/failure-blocks.js';
import type { PipelineLimits } from '../../../src/core/limits/limit-step.js';
import {
  createRequestLimits,
  type RequestLimitsSpec,
} from '../../../src/core/limits/request-limits.js';
import { evaluateRequest, type Decision } from '../../../src/core/pipeline.js';
import {
  apiKey,
  hmacKey,
  mapLookup,
  nativeRequest,
  NOW_MS,
  pipelineDeps,
} from '../pipeline-fixtures.js';

/** Native sandbox routes and their weights (src/sandbox/routes.ts). */
const ROUTES = [
  { method: 'GET', target: '/api/v1/account', weight: 20, order: false },
  { method: 'GET', target: '/api/v1/balances', weight: 10, order: false },
  { method: 'GET', target: '/api/v1/orders', weight: 6, order: false },
  { method: 'POST', target: '/api/v1/orders', weight: 1, order: true },
] as const;
const ORDER_BODY = '{"symbol":"BTCUSDT","side":"buy","type":"limit","quantity":"1","price":"1"}';

const KEYS = [apiKey({ id: 'pk_test_hmac0000000001' }), apiKey({ id: 'pk_test_hmac0000000002' })];
const IPS = ['192.0.2.10', '2001:db8:0:1::7'];

const SPEC: RequestLimitsSpec = {
  perKey: [
    { windowMs: 1_000, limit: 40 },
    { windowMs: 10_000, limit: 150 },
  ],
  perAccount: [{ windowMs: 10_000, limit: 200 }],
  perIp: [{ windowMs: 1_000, limit: 50 }],
  orders: [{ windowMs: 10_000, limit: 8 }],
  authFailures: [{ windowMs: 60_000, limit: 100 }],
  accountOverrides: {},
};

function limitsFor(spec: RequestLimitsSpec): PipelineLimits {
  return {
    rules: createRequestLimits(spec),
    limiter: createMemoryRateLimiter(),
    // Bans would only refuse more; a high threshold keeps the sequences exploring the windows.
    bans: createMemoryBanStore({
      policy: {
        refusalThreshold: 1_000_000,
        refusalWindowMs: 60_000,
        firstBanMs: 60_000,
        maxBanMs: 60_000,
        offenceMemoryMs: 60_000,
      },
    }),
    failureBlocks: createFailureBlocks(),
  };
}

function setup(spec: RequestLimitsSpec) {
  const { deps, clock } = pipelineDeps(mapLookup(KEYS.map((k) => hmacKey(k))), {
    limits: limitsFor(spec),
  });
  return {
    send(nowMs: number, routeIndex: number, keyIndex = 0, ipIndex = 0): Decision {
      clock.set(nowMs);
      const route = ROUTES[routeIndex] ?? ROUTES[0];
      const decision = evaluateRequest(
        deps,
        nativeRequest(route.method, route.target, route.order ? ORDER_BODY : undefined, {
          keyId: KEYS[keyIndex]?.id ?? '',
          clientIp: IPS[ipIndex] ?? '',
          nowMs,
          createdSeconds: Math.floor(nowMs / 1000),
        }),
      );
      if (decision instanceof Promise) throw new Error('the memory pipeline answers synchronously');
      return decision;
    },
  };
}

interface Admission {
  readonly atMs: number;
  readonly weight: number;
  readonly order: boolean;
  readonly key: number;
  readonly ip: number;
}

/** The largest admitted weight in any interval (t − windowMs, t], among `admitted`. */
function maxInWindow(
  admitted: readonly Admission[],
  windowMs: number,
  weightOf: (a: Admission) => number,
): number {
  let max = 0;
  for (const end of admitted) {
    let sum = 0;
    for (const a of admitted) {
      if (a.atMs > end.atMs - windowMs && a.atMs <= end.atMs) sum += weightOf(a);
    }
    max = Math.max(max, sum);
  }
  return max;
}

const arrival = fc.record({
  gapMs: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 50 }),
    fc.integer({ min: 0, max: 900 }),
  ),
  route: fc.integer({ min: 0, max: ROUTES.length - 1 }),
  key: fc.integer({ min: 0, max: KEYS.length - 1 }),
  ip: fc.integer({ min: 0, max: IPS.length - 1 }),
});

describe('rate limits through evaluateRequest (property)', () => {
  it('no key, account, IP or order window ever admits more than its limit', () => {
    fc.assert(
      fc.property(fc.array(arrival, { minLength: 1, maxLength: 60 }), (arrivals) => {
        const gateway = setup(SPEC);
        const admitted: Admission[] = [];
        let nowMs = NOW_MS;
        for (const a of arrivals) {
          nowMs += a.gapMs;
          const decision = gateway.send(nowMs, a.route, a.key, a.ip);
          if (decision.outcome === 'allow') {
            const route = ROUTES[a.route] ?? ROUTES[0];
            admitted.push({ atMs: nowMs, weight: route.weight, order: route.order, ...a });
          } else {
            expect(decision.outcome === 'deny' && decision.reason).toBe('RATE_LIMITED');
          }
        }
        for (const key of KEYS.keys()) {
          const mine = admitted.filter((a) => a.key === key);
          for (const rule of SPEC.perKey) {
            expect(maxInWindow(mine, rule.windowMs, (a) => a.weight)).toBeLessThanOrEqual(
              rule.limit,
            );
          }
        }
        for (const rule of SPEC.perAccount) {
          expect(maxInWindow(admitted, rule.windowMs, (a) => a.weight)).toBeLessThanOrEqual(
            rule.limit,
          );
        }
        for (const ip of IPS.keys()) {
          const fromIp = admitted.filter((a) => a.ip === ip);
          for (const rule of SPEC.perIp) {
            expect(maxInWindow(fromIp, rule.windowMs, (a) => a.weight)).toBeLessThanOrEqual(
              rule.limit,
            );
          }
        }
        for (const rule of SPEC.orders) {
          expect(
            maxInWindow(admitted, rule.windowMs, (a) => (a.order ? 1 : 0)),
          ).toBeLessThanOrEqual(rule.limit);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a client pacing itself exactly at its per-key limit is never refused', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: ROUTES.length - 2 }), // not orders: their own rule would bind
        fc.integer({ min: 1, max: 12 }), // requests per window
        fc.constantFrom(1_000, 3_000, 10_000),
        fc.integer({ min: 0, max: 999 }),
        (routeIndex, perWindow, windowMs, offsetMs) => {
          const weight = (ROUTES[routeIndex] ?? ROUTES[0]).weight;
          const limit = weight * perWindow;
          const roomy = [{ windowMs: 60_000, limit: 1_000_000 }];
          const gateway = setup({
            ...SPEC,
            perKey: [{ windowMs, limit }],
            perAccount: roomy,
            perIp: roomy,
          });
          // The k-th request at ⌈k · windowMs / perWindow⌉: one window's worth every window.
          const sends = perWindow * 3 + 1;
          for (let k = 0; k < sends; k++) {
            const atMs = NOW_MS + offsetMs + Math.ceil((k * windowMs) / perWindow);
            const decision = gateway.send(atMs, routeIndex);
            expect(decision.outcome).toBe('allow');
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
