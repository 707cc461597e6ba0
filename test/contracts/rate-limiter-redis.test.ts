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
import { createRedisReplayGuard } from '../../src/adapters/redis/replay-guard.js';
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

describe('Redis rate limiter: replay id and limits in one script (takeOnce)', () => {
  const checks: LimitCheck[] = [{ bucketKey: 'k', rule, cost: 1 }];
  const once = (replayKeyPrefix: string) =>
    createRedisRateLimiter(
      { redis },
      { keyPrefix: prefix(), clock: 'caller', onRedisDown: 'fail-closed', replayKeyPrefix },
    );

  it('is offered only with the replay guard prefix', () => {
    const plain = createRedisRateLimiter(
      { redis },
      { keyPrefix: prefix(), clock: 'caller', onRedisDown: 'fail-closed' },
    );
    expect('takeOnce' in plain).toBe(false);
    expect('takeOnce' in once(prefix())).toBe(true);
  });

  it('charges like take the first time; the same id again is replayed and charges nothing', async () => {
    const limiter = once(prefix());
    const memory = createMemoryRateLimiter();
    const mark = { id: `r.4.kkkk.${randomUUID()}`, ttlMs: 6_000 };
    expect(await limiter.takeOnce?.(checks, T0, mark)).toEqual(memory.take(checks, T0));
    expect(await limiter.takeOnce?.(checks, T0 + 1, mark)).toBe('replayed');
    // Not charged: the next take sees one admission, as the memory limiter does.
    expect(await limiter.take(checks, T0 + 2)).toEqual(memory.take(checks, T0 + 2));
  });

  it('shares one record with the replay guard, both ways, with the guard ttl', async () => {
    const replayPrefix = prefix();
    const limiter = once(replayPrefix);
    const guard = createRedisReplayGuard({ redis }, { keyPrefix: replayPrefix });
    const byLimiter = `r.1.k.${randomUUID()}`;
    expect(await limiter.takeOnce?.(checks, T0, { id: byLimiter, ttlMs: 6_000 })).toMatchObject({
      allowed: true,
    });
    expect(await guard.remember(byLimiter, 6_000)).toBe('replayed');
    const ttl = await redis.pttl(replayPrefix + byLimiter);
    expect(ttl).toBeGreaterThan(5_000);
    expect(ttl).toBeLessThanOrEqual(6_000);
    const byGuard = `r.1.k.${randomUUID()}`;
    expect(await guard.remember(byGuard, 6_000)).toBe('fresh');
    expect(await limiter.takeOnce?.(checks, T0, { id: byGuard, ttlMs: 6_000 })).toBe('replayed');
  });

  it('records the id even when the limits refuse (as the separate path does)', async () => {
    const limiter = once(prefix());
    const full: LimitCheck[] = [{ bucketKey: 'k', rule, cost: rule.limit + 1 }];
    const mark = { id: `r.1.k.${randomUUID()}`, ttlMs: 6_000 };
    expect(await limiter.takeOnce?.(full, T0, mark)).toMatchObject({ allowed: false });
    expect(await limiter.takeOnce?.(checks, T0, mark)).toBe('replayed');
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

  it('takeOnce answers unavailable (replay fails closed) on a hung Redis, then steps aside', async () => {
    const client = hungClient();
    await new Promise((resolve) => client.once('connect', resolve));
    const limiter = createRedisRateLimiter(
      { redis: client },
      {
        keyPrefix: prefix(),
        clock: 'caller',
        onRedisDown: 'local-fallback',
        replayKeyPrefix: prefix(),
      },
    );
    const mark = { id: 'r.1.k.n', ttlMs: 6_000 };
    const checks: LimitCheck[] = [{ bucketKey: 'k', rule, cost: 1 }];
    expect(await limiter.takeOnce?.(checks, T0, mark)).toBe('unavailable');
    // Within the probe interval: undefined, the pipeline asks the guard and take() apart.
    expect(await limiter.takeOnce?.(checks, T0 + 10, mark)).toBeUndefined();
    client.disconnect();
  });

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
