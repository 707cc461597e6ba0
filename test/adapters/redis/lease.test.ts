/** The Redis lease (src/adapters/redis/lease.ts) against the real Redis on 127.0.0.1:6379. */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisLease } from '../../../src/adapters/redis/lease.js';
import { unreachableRedis } from '../../helpers/redis.js';

const redis = new Redis({ host: '127.0.0.1', port: 6379 });
afterAll(async () => {
  await redis.quit();
});

describe('Redis lease', () => {
  it('is granted to one of several concurrent callers, and again once its ttl ran out', async () => {
    const key = `test:lease:${randomUUID()}`;
    const nodes = ['a', 'b', 'c'].map((holder) => createRedisLease({ redis }, { key, holder }));
    const granted = await Promise.all(nodes.map((lease) => lease(150)));
    expect(granted.filter(Boolean)).toHaveLength(1);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(150);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await nodes[1]?.(150)).toBe(true);
  });

  it('answers false when Redis cannot be asked', async () => {
    const down = unreachableRedis();
    const lease = createRedisLease({ redis: down }, { key: 'test:lease:down', holder: 'a' });
    expect(await lease(1000)).toBe(false);
    down.disconnect();
  });
});
