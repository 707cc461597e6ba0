/**
 * One contract for the shared refusal windows (core/limits/bans.ts addRefusals), run against the
 * in-memory adapter and against the real Redis on 127.0.0.1:6379: what several nodes add is
 * counted together in one fixed window, the addition that reaches the threshold is the offence
 * and is told to one caller only, the window ends by the callers' clock, environments and
 * prefixes do not mix.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemorySharedRefusals } from '../../../src/adapters/memory/shared-refusals.js';
import {
  createRedisSharedRefusals,
  MAX_PREFIXES_PER_CALL,
} from '../../../src/adapters/redis/shared-refusals.js';
import { addRefusals, type SharedRefusals } from '../../../src/core/limits/bans.js';
import { unreachableRedis } from '../../helpers/redis.js';

const redis = new Redis({ host: '127.0.0.1', port: 6379 });
afterAll(async () => {
  await redis.quit();
});

const T0 = 1_767_225_600_000;
const POLICY = { refusalThreshold: 5, refusalWindowMs: 60_000 };
const A = '198.51.100.7';
const B = '2001:db8:1:2::/64';
const counts = (entries: Record<string, number>) => new Map(Object.entries(entries));

const backends: [string, () => { shared: SharedRefusals; keyPrefix?: string }][] = [
  ['memory', () => ({ shared: createMemorySharedRefusals() })],
  [
    'redis',
    () => {
      const keyPrefix = `test:refusals:${randomUUID()}:`;
      return { shared: createRedisSharedRefusals(redis, { keyPrefix }), keyPrefix };
    },
  ],
];

describe.each(backends)('shared refusals (%s)', (_name, make) => {
  it('counts what several nodes add together; the addition that reaches the threshold offends', async () => {
    const { shared } = make();
    expect(await shared.add('sandbox', counts({ [A]: 2 }), T0, POLICY)).toEqual([]);
    expect(await shared.add('sandbox', counts({ [A]: 2 }), T0 + 10, POLICY)).toEqual([]);
    expect(await shared.add('sandbox', counts({ [A]: 1, [B]: 1 }), T0 + 20, POLICY)).toEqual([A]);
    // The offence emptied the window: counting starts again from nothing.
    expect(await shared.add('sandbox', counts({ [A]: 4 }), T0 + 30, POLICY)).toEqual([]);
    expect(await shared.add('sandbox', counts({ [A]: 1 }), T0 + 40, POLICY)).toEqual([A]);
    expect(await shared.add('sandbox', counts({ [B]: 3 }), T0 + 50, POLICY)).toEqual([]);
  });

  it('one addition past the threshold is one offence', async () => {
    const { shared } = make();
    expect(await shared.add('sandbox', counts({ [A]: 12 }), T0, POLICY)).toEqual([A]);
    expect(await shared.add('sandbox', counts({ [A]: 1 }), T0 + 1, POLICY)).toEqual([]);
  });

  it('a window is opened by its first refusal and ends refusalWindow later, by the callers clock', async () => {
    const { shared } = make();
    await shared.add('sandbox', counts({ [A]: 4 }), T0, POLICY);
    // The last millisecond of the window still counts.
    expect(await shared.add('sandbox', counts({ [A]: 1 }), T0 + 59_999, POLICY)).toEqual([A]);
    await shared.add('sandbox', counts({ [A]: 4 }), T0 + 60_000, POLICY);
    // A window over is a fresh one: these 4 are not added to the 4 before.
    expect(await shared.add('sandbox', counts({ [A]: 4 }), T0 + 120_000, POLICY)).toEqual([]);
    expect(await shared.add('sandbox', counts({ [A]: 1 }), T0 + 120_001, POLICY)).toEqual([A]);
  });

  it('environments do not share windows', async () => {
    const { shared } = make();
    await shared.add('sandbox', counts({ [A]: 4 }), T0, POLICY);
    expect(await shared.add('production', counts({ [A]: 4 }), T0, POLICY)).toEqual([]);
    expect(await shared.add('production', counts({ [A]: 1 }), T0, POLICY)).toEqual([A]);
  });

  it('of many nodes adding at the same moment, the offence is told exactly once per crossing', async () => {
    const { shared } = make();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => shared.add('sandbox', counts({ [A]: 1 }), T0, POLICY)),
    );
    // 20 refusals with a threshold of 5: four windows filled, four offences.
    expect(answers.flat()).toEqual([A, A, A, A]);
  });

  it('a report larger than one script call is counted whole', async () => {
    const { shared } = make();
    const many = new Map(
      Array.from({ length: MAX_PREFIXES_PER_CALL + 10 }, (_, i) => [`203.0.113.${i}`, 5]),
    );
    const offences = await shared.add('sandbox', many, T0, POLICY);
    expect(offences.sort()).toEqual([...many.keys()].sort());
  });

  it('agrees with addRefusals for random additions', async () => {
    const { shared } = make();
    let window: Parameters<typeof addRefusals>[0];
    let nowMs = T0;
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 200; i++) {
      nowMs += Math.floor(random() * 20_000);
      const count = 1 + Math.floor(random() * 3);
      const expected = addRefusals(window, count, nowMs, POLICY);
      window = expected.window;
      const offences = await shared.add('sandbox', counts({ [A]: count }), nowMs, POLICY);
      expect(offences).toEqual(expected.offence ? [A] : []);
    }
  });
});

describe('shared refusals on Redis', () => {
  it('keeps a window under its prefix with the window as its TTL, and none after an offence', async () => {
    const keyPrefix = `test:refusals:${randomUUID()}:`;
    const shared = createRedisSharedRefusals(redis, { keyPrefix });
    const nowMs = Date.now();
    await shared.add('sandbox', counts({ [B]: 2 }), nowMs, POLICY);
    const key = `${keyPrefix}sandbox:refusals:${B}`;
    expect(await redis.hgetall(key)).toEqual({ n: '2', s: String(nowMs) });
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await shared.add('sandbox', counts({ [B]: 3 }), nowMs + 1, POLICY);
    expect(await redis.exists(key)).toBe(0);
  });

  it('rejects when Redis cannot be reached (the caller decides what that means)', async () => {
    const down = unreachableRedis();
    try {
      const shared = createRedisSharedRefusals(down, { keyPrefix: 'test:refusals:down:' });
      await expect(shared.add('sandbox', counts({ [A]: 1 }), T0, POLICY)).rejects.toThrow();
    } finally {
      down.disconnect();
    }
  });
});

describe('shared refusals in memory', () => {
  it('is bounded: at the bound, windows that are over go first, then the oldest', async () => {
    const shared = createMemorySharedRefusals({ maxWindows: 2 });
    await shared.add('sandbox', counts({ [A]: 4 }), T0, POLICY);
    await shared.add('sandbox', counts({ [B]: 4 }), T0 + 70_000, POLICY);
    // A's window is over: it makes room, B's is kept.
    await shared.add('sandbox', counts({ c: 1 }), T0 + 70_001, POLICY);
    expect(await shared.add('sandbox', counts({ [B]: 1 }), T0 + 70_002, POLICY)).toEqual([B]);
  });
});
