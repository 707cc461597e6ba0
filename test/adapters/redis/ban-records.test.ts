/**
 * Bans kept in Redis for nodes that start later (src/adapters/redis/ban-records.ts), against the
 * real Redis on 127.0.0.1:6379: what is saved loads back until it ends, a lift removes it, ended
 * or malformed entries are dropped on load, and the hash lives as long as its longest ban.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisBanRecords } from '../../../src/adapters/redis/ban-records.js';

const redis = new Redis({ host: '127.0.0.1', port: 6379 });
afterAll(async () => {
  await redis.quit();
});

const T0 = 1_800_000_000_000;
const MINUTE = 60_000;

function records() {
  const keyPrefix = `test:bans:${randomUUID()}:`;
  return { keyPrefix, bans: createRedisBanRecords(redis, { keyPrefix }) };
}

describe('bans kept in Redis', () => {
  it('loads what was saved, per environment, until each ban ends', async () => {
    const { bans } = records();
    await bans.save(
      'sandbox',
      { prefix: '198.51.100.7', untilMs: T0 + 2 * MINUTE, offences: 1 },
      T0,
    );
    await bans.save(
      'sandbox',
      { prefix: '2001:db8:1:2::/64', untilMs: T0 + 8 * MINUTE, offences: 3 },
      T0,
    );
    await bans.save('production', { prefix: '203.0.113.9', untilMs: T0 + MINUTE, offences: 1 }, T0);
    const sandbox = await bans.load('sandbox', T0 + MINUTE);
    expect(sandbox.sort((a, b) => a.untilMs - b.untilMs)).toEqual([
      { prefix: '198.51.100.7', untilMs: T0 + 2 * MINUTE, offences: 1 },
      { prefix: '2001:db8:1:2::/64', untilMs: T0 + 8 * MINUTE, offences: 3 },
    ]);
    // Later, the first one is over: not loaded, and deleted on the way.
    expect(await bans.load('sandbox', T0 + 3 * MINUTE)).toEqual([
      { prefix: '2001:db8:1:2::/64', untilMs: T0 + 8 * MINUTE, offences: 3 },
    ]);
    expect(await bans.load('production', T0)).toEqual([
      { prefix: '203.0.113.9', untilMs: T0 + MINUTE, offences: 1 },
    ]);
  });

  it('forgets a lifted ban, and a ban already over is not saved', async () => {
    const { keyPrefix, bans } = records();
    await bans.save('sandbox', { prefix: '198.51.100.7', untilMs: T0 + MINUTE, offences: 1 }, T0);
    expect(await bans.remove('sandbox', '198.51.100.7', T0)).toBe(true);
    expect(await bans.load('sandbox', T0)).toEqual([]);
    expect(await bans.remove('sandbox', '198.51.100.7', T0)).toBe(false);
    // A kept ban that is over by now is removed, and not reported as lifted.
    await bans.save('sandbox', { prefix: '198.51.100.9', untilMs: T0 + MINUTE, offences: 1 }, T0);
    expect(await bans.remove('sandbox', '198.51.100.9', T0 + 2 * MINUTE)).toBe(false);
    expect(await redis.hexists(`${keyPrefix}sandbox:bans`, '198.51.100.9')).toBe(0);
    await bans.save('sandbox', { prefix: '198.51.100.8', untilMs: T0, offences: 1 }, T0);
    expect(await redis.exists(`${keyPrefix}sandbox:bans`)).toBe(0);
  });

  it('keeps the hash as long as its longest ban, and no longer', async () => {
    const { keyPrefix, bans } = records();
    const now = Date.now();
    const key = `${keyPrefix}sandbox:bans`;
    await bans.save('sandbox', { prefix: 'a', untilMs: now + 5 * MINUTE, offences: 1 }, now);
    expect(await redis.pttl(key)).toBeGreaterThan(4 * MINUTE);
    await bans.save('sandbox', { prefix: 'b', untilMs: now + 60 * MINUTE, offences: 2 }, now);
    expect(await redis.pttl(key)).toBeGreaterThan(59 * MINUTE);
    // A shorter ban afterwards does not shorten the hash's life.
    await bans.save('sandbox', { prefix: 'c', untilMs: now + MINUTE, offences: 1 }, now);
    expect(await redis.pttl(key)).toBeGreaterThan(59 * MINUTE);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(60 * MINUTE);
  });

  it('drops malformed entries instead of loading them', async () => {
    const { keyPrefix, bans } = records();
    const key = `${keyPrefix}sandbox:bans`;
    await redis.hset(key, {
      'not-json': '{',
      'no-end': JSON.stringify({ offences: 1 }),
      'zero-offences': JSON.stringify({ untilMs: T0 + MINUTE, offences: 0 }),
      ['x'.repeat(65)]: JSON.stringify({ untilMs: T0 + MINUTE, offences: 1 }),
      good: JSON.stringify({ untilMs: T0 + MINUTE, offences: 2 }),
    });
    expect(await bans.load('sandbox', T0)).toEqual([
      { prefix: 'good', untilMs: T0 + MINUTE, offences: 2 },
    ]);
    expect(await redis.hkeys(key)).toEqual(['good']);
  });
});
