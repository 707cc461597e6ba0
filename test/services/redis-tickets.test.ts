/** Connection tickets in the real Redis of this machine (unique key prefix per run). */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisTicketStore } from '../../src/services/oauth/redis-tickets.js';
import { createManualClock } from '../helpers/manual-clock.js';

const PREFIX = `pc-test:tickets:${randomBytes(6).toString('hex')}:`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const grant = (expiresAtMs: number) => ({
  value: { keyId: 'pk_test_a', scopes: ['read'] },
  ipPrefix: '203.0.113.7',
  expiresAtMs,
});

describe('createRedisTicketStore', () => {
  it('hands a grant back exactly once, to one of two nodes racing for it', async () => {
    const clock = createManualClock();
    const nodeA = createRedisTicketStore({ redis, clock }, { keyPrefix: PREFIX });
    const nodeB = createRedisTicketStore({ redis, clock }, { keyPrefix: PREFIX });
    const ticket = await nodeA.put(grant(clock.now() + 30_000));
    const [a, b] = await Promise.all([nodeA.take(ticket), nodeB.take(ticket)]);
    expect([a, b].filter((g) => g !== undefined)).toEqual([grant(clock.now() + 30_000)]);
    expect(await nodeB.take(ticket)).toBeUndefined();
  });

  it('stores only the ticket digest, with a Redis expiry', async () => {
    const clock = createManualClock();
    const store = createRedisTicketStore({ redis, clock }, { keyPrefix: PREFIX });
    const ticket = await store.put(grant(clock.now() + 30_000));
    const keys = await redis.keys(`${PREFIX}*`);
    expect(keys.some((k) => k.includes(ticket))).toBe(false);
    const ttls = await Promise.all(keys.map((k) => redis.pttl(k)));
    expect(ttls.every((ttl) => ttl > 0 && ttl <= 30_000)).toBe(true);
    await store.take(ticket);
  });

  it('refuses a ticket past its expiry by the gateway clock', async () => {
    const clock = createManualClock();
    const store = createRedisTicketStore({ redis, clock }, { keyPrefix: PREFIX });
    const ticket = await store.put(grant(clock.now() + 30_000));
    clock.advance(30_000);
    expect(await store.take(ticket)).toBeUndefined();
  });

  it('fails (does not hang) when Redis is unreachable', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    });
    dead.on('error', () => undefined);
    const store = createRedisTicketStore(
      { redis: dead, clock: createManualClock() },
      { keyPrefix: PREFIX },
    );
    await expect(store.take('pct_x')).rejects.toBeInstanceOf(Error);
    dead.disconnect();
  });
});
