/**
 * One contract for the shared failure windows and rate states (src/core/risk/shared-windows.ts),
 * run against the in-memory adapter and against the real Redis on 127.0.0.1:6379: what two nodes
 * add is measured together, the window slides by the events' time, a spray counts distinct keys,
 * a rate is scored against one baseline the nodes learn together, to the bit of the engine's,
 * and of the nodes that see a subject cross its threshold one raises it.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemorySharedRiskWindows } from '../../../src/adapters/memory/shared-risk-windows.js';
import { createRedisSharedRiskWindows } from '../../../src/adapters/redis/shared-risk-windows.js';
import { resolveRiskConfig, type RiskEvent } from '../../../src/core/risk/index.js';
import { createRateState } from '../../../src/core/risk/detectors.js';
import {
  addRateCounts,
  addRateToBatch,
  addToBatch,
  createContributionBatch,
  RATE_STATE_TTL_MS,
  type SharedRiskWindows,
  type WindowContribution,
} from '../../../src/core/risk/shared-windows.js';
import { unreachableRedis } from '../../helpers/redis.js';
import { allowedEvent, denial, RISK_T0 } from '../../helpers/risk-events.js';

const T0 = RISK_T0;
const redis = new Redis({ host: '127.0.0.1', port: 6379 });
afterAll(async () => {
  await redis.quit();
});

const config = resolveRiskConfig({
  environments: {
    production: {
      failureBurst: { perKey: 6, perPrefix: 100, windowMs: 60_000, cooldownMs: 300_000 },
      keySpray: { distinctKeys: 4, windowMs: 60_000, cooldownMs: 300_000 },
    },
  },
});

/** The contributions of `events`, as a monitor builds them from one batch. */
function contributions(events: readonly RiskEvent[], rates = false): WindowContribution[] {
  const batch = createContributionBatch();
  for (const event of events) {
    if (rates) addRateToBatch(batch, event, rateConfig);
    else addToBatch(batch, event, config);
  }
  return [...batch.byId.values()];
}

/** Adds `events` as one node's batch (their failures, or their rates); answers by id. */
async function add(windows: SharedRiskWindows, events: readonly RiskEvent[], rates = false) {
  const list = contributions(events, rates);
  const answers = await windows.add(list);
  return new Map(list.map((c, i) => [c.id, answers[i]]));
}

/** Rate spikes scored on 1-second intervals after 3 of them, from 5 requests on. */
const RATE = {
  intervalMs: 1_000,
  lambda: 0.5,
  warmupIntervals: 3,
  zThreshold: 3,
  minRequestsPerInterval: 5,
  cooldownMs: 300_000,
};
const rateConfig = resolveRiskConfig({ environments: { production: { rateSpike: RATE } } });
const KEY_RATE = 'rate_spike:production:key:pk_live_a';
const ACCOUNT_RATE = 'rate_spike:production:account:acc_a';
/** `n` allowed requests of pk_live_a (account acc_a) in the interval starting at T0 + `s` s. */
const requests = (n: number, s: number) =>
  Array.from({ length: n }, (_, i) => allowedEvent({ nowMs: T0 + s * 1000 + i }));

const KEY_BURST = 'failure_burst:production:key:pk_live_a';
const PREFIX_SPRAY = 'key_spray:production:ip_prefix:203.0.113.0/24';
const times = (n: number, patch: (i: number) => Partial<RiskEvent>) =>
  Array.from({ length: n }, (_, i) => denial(patch(i)));

const backends: [string, () => SharedRiskWindows][] = [
  ['memory', () => createMemorySharedRiskWindows()],
  [
    'redis',
    () => createRedisSharedRiskWindows({ redis }, { keyPrefix: `test:risk:${randomUUID()}:` }),
  ],
];

describe.each(backends)('shared risk windows (%s)', (_name, make) => {
  it('measures what several nodes add together, and one of them raises it', async () => {
    const windows = make();
    const a = await add(
      windows,
      times(3, (i) => ({ nowMs: T0 + i })),
    );
    expect(a.get(KEY_BURST)).toEqual({ observed: 3, raise: false });
    const b = await add(
      windows,
      times(3, (i) => ({ nowMs: T0 + 10 + i })),
    );
    expect(b.get(KEY_BURST)).toEqual({ observed: 6, raise: true });
    // Within the cooldown the subject is not raised again, on any node.
    const c = await add(
      windows,
      times(2, (i) => ({ nowMs: T0 + 20 + i })),
    );
    expect(c.get(KEY_BURST)).toEqual({ observed: 8, raise: false });
  });

  it('raises at most once when nodes cross the threshold at the same time', async () => {
    const windows = make();
    await add(
      windows,
      times(5, (i) => ({ nowMs: T0 + i })),
    );
    const answers = await Promise.all(
      [0, 1, 2, 3].map((n) => add(windows, [denial({ nowMs: T0 + 100 + n })])),
    );
    expect(answers.filter((a) => a.get(KEY_BURST)?.raise === true)).toHaveLength(1);
  });

  it('forgets denials older than the window (by the events’ time)', async () => {
    const windows = make();
    await add(
      windows,
      times(5, (i) => ({ nowMs: T0 + i })),
    );
    const later = await add(windows, [denial({ nowMs: T0 + 61_000 })]);
    expect(later.get(KEY_BURST)).toEqual({ observed: 1, raise: false });
  });

  it('counts distinct failing keys of a prefix across nodes, each key once', async () => {
    const windows = make();
    const a = await add(windows, [
      denial({ keyId: 'pk_guess_1', reason: 'KEY_UNKNOWN' }),
      denial({ keyId: 'pk_guess_1', reason: 'KEY_UNKNOWN', nowMs: T0 + 1 }),
      denial({ keyId: 'pk_guess_2', reason: 'KEY_UNKNOWN' }),
    ]);
    expect(a.get(PREFIX_SPRAY)).toEqual({ observed: 2, raise: false });
    // An unknown key id counts towards its prefix only, never as a key of its own.
    expect(a.has('failure_burst:production:key:pk_guess_1')).toBe(false);
    const b = await add(windows, [
      denial({ keyId: 'pk_guess_2', reason: 'KEY_UNKNOWN', nowMs: T0 + 5 }),
      denial({ keyId: 'pk_guess_3', reason: 'KEY_UNKNOWN', nowMs: T0 + 5 }),
      denial({ keyId: 'pk_guess_4', reason: 'KEY_UNKNOWN', nowMs: T0 + 5 }),
    ]);
    expect(b.get(PREFIX_SPRAY)).toEqual({ observed: 4, raise: true });
    // A key whose last failure left the window is not counted any more.
    const c = await add(windows, [
      denial({ keyId: 'pk_guess_5', reason: 'KEY_UNKNOWN', nowMs: T0 + 60_002 }),
    ]);
    expect(c.get(PREFIX_SPRAY)).toEqual({ observed: 4, raise: false });
  });

  it('keeps at most maxTracked keys per prefix, the most recent ones', async () => {
    const windows = make();
    const list = contributions(
      times(100, (i) => ({ keyId: `pk_guess_${i}`, reason: 'KEY_UNKNOWN', nowMs: T0 + i })),
    );
    const spray = list.find((c) => c.id === PREFIX_SPRAY);
    expect(spray?.maxTracked).toBe(64);
    const answers = await windows.add(list);
    expect(answers[list.indexOf(spray!)]?.observed).toBe(64);
  });

  it('raises every time at the threshold when the cooldown is 0', async () => {
    const windows = make();
    const batch = contributions(times(6, (i) => ({ nowMs: T0 + i })));
    const once = batch.map((c) => ({ ...c, cooldownMs: 0 }));
    expect((await windows.add(once)).find((_, i) => once[i]?.id === KEY_BURST)).toEqual({
      observed: 6,
      raise: true,
    });
    expect((await windows.add(once)).find((_, i) => once[i]?.id === KEY_BURST)).toEqual({
      observed: 12,
      raise: true,
    });
  });

  it('keeps environments and subjects apart', async () => {
    const windows = make();
    await add(
      windows,
      times(5, (i) => ({ nowMs: T0 + i })),
    );
    const other = await add(windows, [
      denial({ environment: 'sandbox' }),
      denial({ keyId: 'pk_live_b' }),
    ]);
    expect(other.get('failure_burst:sandbox:key:pk_live_a')?.observed).toBe(1);
    expect(other.get('failure_burst:production:key:pk_live_b')?.observed).toBe(1);
    // The prefix's production window: five denials, then pk_live_b's (not the sandbox one).
    expect(other.get('failure_burst:production:ip_prefix:203.0.113.0/24')?.observed).toBe(6);
    expect(other.get('failure_burst:sandbox:ip_prefix:203.0.113.0/24')?.observed).toBe(1);
  });
});

describe.each(backends)('shared rate states (%s)', (_name, make) => {
  it('scores what several nodes count against the baseline they learn together', async () => {
    const windows = make();
    // Three warm-up intervals of 4 requests, two on each node: a baseline of 4, variance 0.
    for (let s = 0; s < 3; s++) {
      await add(windows, requests(2, s), true);
      await add(windows, requests(2, s), true);
    }
    // 10 + 10 in the next interval: (10 − 4) / √4 = 3 is not above 3; (20 − 4) / 2 = 8 is.
    const a = await add(windows, requests(10, 3), true);
    expect(a.get(KEY_RATE)).toEqual({ observed: 0, raise: false });
    const b = await add(windows, requests(10, 3), true);
    expect(b.get(KEY_RATE)).toEqual({ observed: 8, raise: true });
    // The account is a subject of its own, with the same counts.
    expect(b.get(ACCOUNT_RATE)).toEqual({ observed: 8, raise: true });
    // Within the cooldown no node raises the key again, however high its rate goes.
    const c = await add(windows, requests(40, 3), true);
    expect(c.get(KEY_RATE)).toEqual({ observed: 0, raise: false });
  });

  it('raises at most once when nodes cross the threshold at the same time', async () => {
    const windows = make();
    for (let s = 0; s < 3; s++) await add(windows, requests(4, s), true);
    const answers = await Promise.all([0, 1, 2, 3].map(() => add(windows, requests(12, 3), true)));
    expect(answers.filter((a) => a.get(KEY_RATE)?.raise === true)).toHaveLength(1);
  });

  it('says nothing before the warm-up or under the request floor', async () => {
    const windows = make();
    for (let s = 0; s < 2; s++) await add(windows, requests(1, s), true);
    // Two intervals learnt: still warming up, even at 50 × the baseline.
    expect((await add(windows, requests(50, 2), true)).get(KEY_RATE)?.raise).toBe(false);
    const quiet = make();
    for (let s = 0; s < 3; s++) await add(quiet, requests(1, s), true);
    // Warm, baseline 1: 4 requests score (4 − 1) / 1 = 3 … and stay under the floor of 5.
    expect((await add(quiet, requests(4, 3), true)).get(KEY_RATE)?.raise).toBe(false);
    expect((await add(quiet, requests(1, 3), true)).get(KEY_RATE)).toEqual({
      observed: 4,
      raise: true,
    });
  });

  it('keeps the baseline to the bit of the reference arithmetic, late counts included', async () => {
    const windows = make();
    const reference = createRateState();
    let raised = 0;
    // Irregular counts over 40 intervals, some idle; λ = 0.1 makes the baseline fractional.
    for (let s = 0; s < 40; s++) {
      const n = s % 5 === 0 ? 0 : ((s * 7919) % 13) + 3;
      const events = requests(n, s);
      // A node's late requests of the previous interval count towards the current one.
      if (s === 21) events.unshift(...requests(2, 20));
      if (events.length === 0) continue;
      const list = contributions(events, true)
        .filter((c) => c.id === KEY_RATE)
        .map((c) => ({ ...c, cooldownMs: 0, threshold: 1.5, rate: { ...c.rate!, lambda: 0.1 } }));
      const [answer] = await windows.add(list);
      const c = list[0]!;
      const expected = addRateCounts(reference, c.counts, c.rate, c.threshold, () => true);
      expect(answer).toEqual(expected);
      if (expected.raise) raised++;
    }
    expect(raised).toBeGreaterThan(3);
    expect(Number.isInteger(reference.mean)).toBe(false);
  });
});

describe('shared risk windows on Redis', () => {
  it('gives every window and cooldown a TTL of its window or cooldown', async () => {
    const keyPrefix = `test:risk:${randomUUID()}:`;
    const windows = createRedisSharedRiskWindows({ redis }, { keyPrefix });
    await add(
      windows,
      times(6, (i) => ({ keyId: `pk_live_${i % 2}`, nowMs: T0 + i })),
    );
    const keys = await redis.keys(`${keyPrefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(key.includes('cooldown:') ? 300_000 : 65_000);
    }
  });

  it('keeps a rate baseline for RATE_STATE_TTL_MS after its last request', async () => {
    const keyPrefix = `test:risk:${randomUUID()}:`;
    const windows = createRedisSharedRiskWindows({ redis }, { keyPrefix });
    await add(windows, requests(3, 0), true);
    const ttl = await redis.pttl(`${keyPrefix}${KEY_RATE}`);
    expect(ttl).toBeGreaterThan(RATE_STATE_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(RATE_STATE_TTL_MS);
  });

  it('fails fast, without hanging, when Redis cannot be reached', async () => {
    const down = unreachableRedis();
    const windows = createRedisSharedRiskWindows({ redis: down }, { keyPrefix: 'test:risk:down:' });
    await expect(add(windows, [denial()])).rejects.toThrow();
    down.disconnect();
  });
});

describe('shared rate states in memory', () => {
  it('learn a baseline again after RATE_STATE_TTL_MS idle (as Redis expires it)', async () => {
    const windows = createMemorySharedRiskWindows();
    for (let s = 0; s < 3; s++) await add(windows, requests(4, s), true);
    expect((await add(windows, requests(20, 3), true)).get(KEY_RATE)?.raise).toBe(true);
    const back = RATE_STATE_TTL_MS / 1000 + 10;
    // Idle past the TTL: warming up again, so even a spike says nothing.
    expect((await add(windows, requests(50, back), true)).get(KEY_RATE)?.raise).toBe(false);
  });
});
