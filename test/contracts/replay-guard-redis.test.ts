/**
 * Runs against a real Redis at 127.0.0.1:6379 (REDIS_URL overrides). Every test run uses a
 * random key prefix and deletes its keys afterwards.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REDIS_FAIL_FAST_OPTIONS,
  createRedisReplayGuard,
} from '../../src/adapters/redis/replay-guard.js';
import { describeReplayGuardContract } from './replay-guard.contract.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const EXPIRY_DEADLINE_MS = 2000;
const POLL_INTERVAL_MS = 10;

async function connect(url: string): Promise<Redis> {
  const redis = new Redis(url, { ...REDIS_FAIL_FAST_OPTIONS, lazyConnect: true });
  redis.on('error', () => {
    // Connection errors surface as 'unavailable' verdicts; the event must still be handled.
  });
  await redis.connect();
  return redis;
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Polls until Redis no longer holds the key; bounded so a broken expiry fails the test. */
async function waitUntilGone(redis: Redis, key: string): Promise<void> {
  const deadline = Date.now() + EXPIRY_DEADLINE_MS;
  while ((await redis.exists(key)) === 1) {
    if (Date.now() > deadline) throw new Error(`key still present after ${EXPIRY_DEADLINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

let redis: Redis;
const keyPrefix = `portcullis-test:${randomUUID()}:`;

beforeAll(async () => {
  redis = await connect(REDIS_URL);
});

afterAll(async () => {
  await deleteKeys(redis, keyPrefix);
  redis.disconnect();
});

describeReplayGuardContract('redis', () =>
  Promise.resolve({
    guard: createRedisReplayGuard({ redis }, { keyPrefix }),
    shortTtlMs: 50,
    waitForExpiry: (id) => waitUntilGone(redis, keyPrefix + id),
    close: () => Promise.resolve(),
  }),
);

describe('redis replay guard', () => {
  it('stores the id under the configured prefix with the ttl in milliseconds', async () => {
    const guard = createRedisReplayGuard({ redis }, { keyPrefix });
    const id = `id-${randomUUID()}`;
    await guard.remember(id, 30_000);
    const ttlMs = await redis.pttl(keyPrefix + id);
    expect(ttlMs).toBeGreaterThan(0);
    expect(ttlMs).toBeLessThanOrEqual(30_000);
  });

  it('answers unavailable when Redis cannot be reached', async () => {
    const unreachable = new Redis({
      host: '127.0.0.1',
      port: 1,
      ...REDIS_FAIL_FAST_OPTIONS,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    unreachable.on('error', () => {});
    const guard = createRedisReplayGuard({ redis: unreachable }, { keyPrefix });
    try {
      expect(await guard.remember(`id-${randomUUID()}`, 60_000)).toBe('unavailable');
    } finally {
      unreachable.disconnect();
    }
  });

  it('reports why a check was unavailable', async () => {
    const errors: Error[] = [];
    const failing = { set: () => Promise.reject(new Error('connection refused')) };
    const guard = createRedisReplayGuard({ redis: failing, onError: (e) => errors.push(e) });
    await guard.remember('id', 60_000);
    expect(errors).toHaveLength(1);
  });

  it('answers unavailable when Redis does not reply in time', async () => {
    const silent = { set: () => new Promise<'OK' | null>(() => {}) };
    const guard = createRedisReplayGuard({ redis: silent }, { timeoutMs: 20 });
    expect(await guard.remember('id', 60_000)).toBe('unavailable');
  });
});
