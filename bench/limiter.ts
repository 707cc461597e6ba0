/** Limiter set-ups for the benchmarks: the pipeline's limit deps over memory or Redis. */
import { Redis } from '../src/adapters/redis/ioredis.js';
import { createMemoryBanStore } from '../src/adapters/memory/ban-store.js';
import { createMemoryRateLimiter } from '../src/adapters/memory/rate-limiter.js';
import {
  createRedisRateLimiter,
  REDIS_LIMITER_CLIENT_OPTIONS,
} from '../src/adapters/redis/rate-limiter.js';
import { createFailureBlocks } from '../src/core/limits/failure-blocks.js';
import type { PipelineLimits } from '../src/core/limits/limit-step.js';
import { createRequestLimits } from '../src/core/limits/request-limits.js';
import type { RateLimiter } from '../src/core/limits/types.js';
import { batchedScriptClient } from '../src/adapters/redis/write-batching.js';

/** Limits shaped like the defaults (key, account, IP, orders 10 s + 1 d) but never reached. */
const HUGE = 1_000_000_000;
const RULES = createRequestLimits({
  perKey: [
    { windowMs: 1_000, limit: HUGE },
    { windowMs: 60_000, limit: HUGE },
  ],
  perAccount: [{ windowMs: 60_000, limit: HUGE }],
  perIp: [{ windowMs: 60_000, limit: HUGE }],
  orders: [
    { windowMs: 10_000, limit: HUGE },
    { windowMs: 86_400_000, limit: HUGE },
  ],
  authFailures: [{ windowMs: 60_000, limit: HUGE }],
  accountOverrides: {},
});

function limitsOver(limiter: RateLimiter): PipelineLimits {
  return {
    rules: RULES,
    limiter,
    bans: createMemoryBanStore(),
    failureBlocks: createFailureBlocks(),
  };
}

export const memoryLimits = (): PipelineLimits => limitsOver(createMemoryRateLimiter());

/** Redis on 127.0.0.1:6379 (as the tests use), a fresh key prefix per run. */
export async function redisLimits(): Promise<{ limits: PipelineLimits; close(): void }> {
  // The product's 100 ms command timeout (fail closed) would end the run when this busy process
  // stalls for 100 ms (a major GC of the bench's large heap, a noisy neighbour on the machine):
  // the figure is the limiter's cost, so the bench's client waits longer. Same script and calls.
  const redis = new Redis({
    host: '127.0.0.1',
    port: 6379,
    ...REDIS_LIMITER_CLIENT_OPTIONS,
    commandTimeout: 2_000,
  });
  await new Promise((resolve) => redis.once('ready', resolve));
  // As the gateway sends them: the scripts of one event-loop turn in one socket write.
  const limiter = createRedisRateLimiter(
    { redis: batchedScriptClient(redis) },
    { keyPrefix: `pc:bench:${Date.now()}:`, onRedisDown: 'fail-closed' },
  );
  return { limits: limitsOver(limiter), close: () => redis.disconnect() };
}
