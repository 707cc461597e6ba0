/**
 * The replay check folded into the limiter's charge (RateLimiter.takeOnce, one Redis round trip
 * per request): an allowed request records its nonce with its limits; a request refused after
 * its signature verified records it through the replay guard; both paths share one record, so
 * a nonce is single use whatever the answer, and a replay is NONCE_REPLAYED either way.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryBanStore } from '../../../src/adapters/memory/ban-store.js';
import { createMemoryRateLimiter } from '../../../src/adapters/memory/rate-limiter.js';
import { createFailureBlocks } from '../../../src/core/limits/failure-blocks.js';
import type { PipelineLimits } from '../../../src/core/limits/limit-step.js';
import { createRequestLimits } from '../../../src/core/limits/request-limits.js';
import type { OnceResult, RateLimiter } from '../../../src/core/limits/types.js';
import { evaluateRequest, type Decision } from '../../../src/core/pipeline.js';
import type { ReplayGuard } from '../../../src/core/replay/replay-guard.js';
import { apiKey, hmacKey, mapLookup, nativeRequest, pipelineDeps } from '../pipeline-fixtures.js';

const READ_ONLY = apiKey({ id: 'pk_test_hmac0000000002', scopes: ['read'] });
const ORDER = '{"symbol":"BTCUSDT","side":"buy","type":"limit","quantity":"1","price":"1"}';

/** A replay record shared by the guard and takeOnce, as Redis is; counts who asked. */
function sharedStore(onceAnswer?: () => OnceResult) {
  const ids = new Set<string>();
  const calls = { guard: 0, once: 0, take: 0 };
  const memory = createMemoryRateLimiter();
  const guard: ReplayGuard = {
    remember(id) {
      calls.guard++;
      if (ids.has(id)) return 'replayed';
      ids.add(id);
      return 'fresh';
    },
  };
  const limiter: RateLimiter = {
    take(checks, nowMs) {
      calls.take++;
      return memory.take(checks, nowMs);
    },
    takeOnce(checks, nowMs, replay) {
      calls.once++;
      const forced = onceAnswer?.();
      if (forced !== undefined || onceAnswer !== undefined) return forced;
      if (ids.has(replay.id)) return 'replayed';
      ids.add(replay.id);
      return memory.take(checks, nowMs);
    },
  };
  const limits: PipelineLimits = {
    rules: createRequestLimits({
      perKey: [{ windowMs: 60_000, limit: 1000 }],
      perAccount: [],
      perIp: [],
      orders: [],
      authFailures: [{ windowMs: 60_000, limit: 1000 }],
      accountOverrides: {},
    }),
    limiter,
    bans: createMemoryBanStore(),
    failureBlocks: createFailureBlocks(),
  };
  const { deps } = pipelineDeps(mapLookup([hmacKey(apiKey()), hmacKey(READ_ONLY)]), {
    replay: guard,
    limits,
  });
  const send = async (request: ReturnType<typeof nativeRequest>): Promise<Decision> =>
    evaluateRequest(deps, request);
  return { calls, send, ids };
}

const reasonOf = (d: Decision): string => (d.outcome === 'deny' ? d.reason : d.outcome);

describe('replay check folded into the limits', () => {
  it('an allowed request records its nonce with its charge; the replay is refused uncharged', async () => {
    const { calls, send } = sharedStore();
    const request = nativeRequest('GET', '/api/v1/balances', undefined);
    const first = await send(request);
    expect(first.outcome).toBe('allow');
    expect(calls).toEqual({ guard: 0, once: 1, take: 0 });
    const remaining = first.outcome === 'allow' ? first.limits?.results[0]?.remaining : -1;
    expect(reasonOf(await send(request))).toBe('NONCE_REPLAYED');
    const next = await send(nativeRequest('GET', '/api/v1/balances', undefined));
    // The replay charged nothing: the next request sees one charge more than the first.
    expect(next.outcome === 'allow' ? next.limits?.results[0]?.remaining : -2).toBe(
      (remaining ?? 0) - 10,
    );
  });

  it('a request refused after its signature verified records its nonce through the guard', async () => {
    const { calls, send, ids } = sharedStore();
    const request = nativeRequest('POST', '/api/v1/orders', ORDER, { keyId: READ_ONLY.id });
    expect(reasonOf(await send(request))).toBe('SCOPE_MISSING');
    expect(calls.guard).toBe(1);
    expect(ids.size).toBe(1);
    // Even if the key gained the scope meanwhile, this exact request could not come back.
    expect(reasonOf(await send(request))).toBe('NONCE_REPLAYED');
  });

  it('a nonce recorded by either path is refused by the other', async () => {
    const { send } = sharedStore();
    const denied = nativeRequest('POST', '/api/v1/orders', ORDER, {
      keyId: READ_ONLY.id,
      nonce: 'nonce_shared_000000001',
    });
    expect(reasonOf(await send(denied))).toBe('SCOPE_MISSING');
    const sameNonceAllowed = nativeRequest('GET', '/api/v1/balances', undefined, {
      keyId: READ_ONLY.id,
      nonce: 'nonce_shared_000000001',
    });
    expect(reasonOf(await send(sameNonceAllowed))).toBe('NONCE_REPLAYED');
  });

  it('nothing is recorded for a request refused before its signature verified', async () => {
    const { calls, send, ids } = sharedStore();
    const forged = nativeRequest('GET', '/api/v1/balances', undefined, { secret: 'psk_wrong' });
    expect(reasonOf(await send(forged))).toBe('SIGNATURE_INVALID');
    expect(calls.guard + calls.once).toBe(0);
    expect(ids.size).toBe(0);
  });

  it('falls back to the guard and take when the limiter cannot combine them', async () => {
    const { calls, send } = sharedStore(() => undefined);
    const request = nativeRequest('GET', '/api/v1/balances', undefined);
    expect((await send(request)).outcome).toBe('allow');
    expect(calls).toEqual({ guard: 1, once: 1, take: 1 });
    expect(reasonOf(await send(request))).toBe('NONCE_REPLAYED');
  });

  it('fails closed when the combined step cannot reach the store', async () => {
    const { send } = sharedStore(() => 'unavailable');
    const answer = await send(nativeRequest('GET', '/api/v1/balances', undefined));
    expect(reasonOf(answer)).toBe('REPLAY_CHECK_UNAVAILABLE');
  });
});
