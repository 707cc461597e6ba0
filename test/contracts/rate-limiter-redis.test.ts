/** The Redis limiter against the real Redis on 127.0.0.1:6379, each test under its own prefix. */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from '../../src/adapters/memory/rate-limiter.js';
import {
  createRedisRateLimiter,
  REDIS_LIMITER_CLIENT_OPTIONS,
  type RedisLimiterStatus,
} from '../../src/adapters/redis/rate-limiter.js';
import type { LimitCheck, LimitRule } from '../../src/core/limits/types.js';
import { describeRateLimiterContract } from './rate-limiter.contract.js';

const redis = new Redis({ host: '127.0.0.1', port: 6379, ...REDIS_LIMITER_CLIENT_OPTIONS });
const prefix = () => `test:rl:${randomUUID()}:`;
const rule: LimitRule = { name: 'key-1s', windowMs: 1_000, limit: 4 };
const T0 = 1_700_000_000_000;

beforeAll(async () => {
  // enableOfflineQueue is off: wait for the connection before the first command.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
});
afterAll(async () => {
  await redis.quit();
});

describeRateLimiterContract('redis', () => ({
  limiter: createRedisRateLimiter(
    { redis },
    { keyPrefix: prefix(), clock: 'caller', onRedisDown: 'fail-closed' },
  ),
}));

describe('Redis rate limiter', () => {
  it('agrees with the in-memory limiter on random sequences', async () => {
    const rules: LimitRule[] = [rule, { name: 'acct-10s', windowMs: 10_000, limit: 9 }];
    const stepArb = fc.record({
      gap: fc.integer({ min: 0, max: 600 }),
      key: fc.constantFrom('a', 'b'),
      cost: fc.integer({ min: 0, max: 5 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), async (steps) => {
        const memory = createMemoryRateLimiter();
        const shared = createRedisRateLimiter(
          { redis },
          { keyPrefix: prefix(), clock: 'caller', onRedisDown: 'fail-closed' },
        );
        let t = T0;
        for (const { gap, key, cost } of steps) {
          t += gap;
          const checks: LimitCheck[] = [
            { bucketKey: key, rule: rules[0]!, cost },
            { bucketKey: 'acct', rule: rules[1]!, cost },
          ];
          expect(await shared.take(checks, t)).toEqual(memory.take(checks, t));
        }
      }),
      { numRuns: 25 },
    );
  });

  it('sets a TTL on every key it writes', async () => {
    const keyPrefix = prefix();
    const limiter = createRedisRateLimiter(
      { redis },
      { keyPrefix, clock: 'caller', onRedisDown: 'fail-closed' },
    );
    await limiter.take([{ bucketKey: 'k', rule, cost: 1 }], Date.now());
    const ttls = await Promise.all(
      ['l', 's'].map((suffix) => redis.pttl(`${keyPrefix}k|key-1s|${suffix}`)),
    );
    expect(ttls.every((ttl) => ttl > 0 && ttl <= 1_000)).toBe(true);
  });

  it('uses the Redis clock by default, ignoring the caller clock', async () => {
    const limiter = createRedisRateLimiter(
      { redis },
      { keyPrefix: prefix(), onRedisDown: 'fail-closed' },
    );
    await limiter.take([{ bucketKey: 'k', rule, cost: 4 }], 0);
    // A caller clock a day later would have aged the admissions out; the server clock has not.
    const result = await limiter.take([{ bucketKey: 'k', rule, cost: 1 }], 86_400_000);
    expect(result.allowed).toBe(false);
  });

  it('loads the script again after SCRIPT FLUSH (NOSCRIPT fallback to EVAL)', async () => {
    const limiter = createRedisRateLimiter(
      { redis },
      { keyPrefix: prefix(), clock: 'caller', onRedisDown: 'fail-closed' },
    );
    await redis.script('FLUSH');
    const result = await limiter.take([{ bucketKey: 'k', rule, cost: 1 }], T0);
    expect(result.allowed).toBe(true);
    expect(limiter.status().mode).toBe('redis');
  });
});

describe('Redis rate limiter when Redis is unreachable', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let port = 0;

  beforeAll(async () => {
    // Accepts connections and never answers: a hung Redis, which only a timeout can detect.
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  function hungClient(): Redis {
    return new Redis({
      host: '127.0.0.1',
      port,
      ...REDIS_LIMITER_CLIENT_OPTIONS,
      commandTimeout: 50,
      enableReadyCheck: false,
      retryStrategy: () => null,
    });
  }

  it('fails closed with unavailable, within the command timeout', async () => {
    const client = hungClient();
    await new Promise((resolve) => client.once('connect', resolve));
    const limiter = createRedisRateLimiter(
      { redis: client },
      { keyPrefix: prefix(), clock: 'caller', onRedisDown: 'fail-closed' },
    );
    const result = await limiter.take([{ bucketKey: 'k', rule, cost: 1 }], T0);
    expect(result).toMatchObject({ allowed: false, unavailable: true });
    client.disconnect();
  });

  it('falls back to local limits divided by the node count', async () => {
    const client = new Redis({
      host: '127.0.0.1',
      port: 1,
      ...REDIS_LIMITER_CLIENT_OPTIONS,
      lazyConnect: true,
    });
    const limiter = createRedisRateLimiter(
      { redis: client },
      { keyPrefix: prefix(), clock: 'caller', onRedisDown: 'local-fallback', nodeCount: 2 },
    );
    const allowed: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      allowed.push((await limiter.take([{ bucketKey: 'k', rule, cost: 1 }], T0 + i)).allowed);
    }
    expect(allowed).toEqual([true, true, false]);
    client.disconnect();
  });

  it('reports the mode change and returns to Redis after the probe interval', async () => {
    const modes: RedisLimiterStatus['mode'][] = [];
    let up = false;
    const flaky = {
      evalsha: (...args: Parameters<Redis['evalsha']>) =>
        up ? redis.evalsha(...args) : Promise.reject(new Error('connection lost')),
      eval: (...args: Parameters<Redis['eval']>) =>
        up ? redis.eval(...args) : Promise.reject(new Error('connection lost')),
    };
    const limiter = createRedisRateLimiter(
      { redis: flaky },
      {
        keyPrefix: prefix(),
        clock: 'caller',
        onRedisDown: 'local-fallback',
        probeIntervalMs: 1_000,
        onModeChange: (status) => modes.push(status.mode),
      },
    );
    await limiter.take([{ bucketKey: 'k', rule, cost: 1 }], T0);
    expect(limiter.status()).toMatchObject({ mode: 'local-fallback', sinceMs: T0 });
    up = true;
    await limiter.take([{ bucketKey: 'k', rule, cost: 1 }], T0 + 999);
    expect(limiter.status().mode).toBe('local-fallback');
    await limiter.take([{ bucketKey: 'k', rule, cost: 1 }], T0 + 1_000);
    expect(modes).toEqual(['local-fallback', 'redis']);
  });
});
