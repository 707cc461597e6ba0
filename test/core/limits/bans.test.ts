import { describe, expect, it } from 'vitest';
import { createMemoryBanStore } from '../../../src/adapters/memory/ban-store.js';
import {
  addRefusals,
  banDurationMs,
  banStatus,
  imposeBan,
  recordRefusal,
  type BanPolicy,
  type BanRecord,
} from '../../../src/core/limits/bans.js';

const policy: BanPolicy = {
  refusalThreshold: 3,
  refusalWindowMs: 10_000,
  firstBanMs: 120_000,
  maxBanMs: 3 * 86_400_000,
  offenceMemoryMs: 86_400_000,
};
const T0 = 1_700_000_000_000;

/** Feeds `count` refusals one millisecond apart from `startMs`. */
function refuse(record: BanRecord | undefined, startMs: number, count: number) {
  let outcome = recordRefusal(record, startMs, policy);
  for (let i = 1; i < count; i++) outcome = recordRefusal(outcome.record, startMs + i, policy);
  return outcome;
}

describe('escalating bans', () => {
  it('does not ban below the refusal threshold', () => {
    const { record, ban } = refuse(undefined, T0, 2);
    expect(ban).toBeUndefined();
    expect(banStatus(record, T0 + 2).banned).toBe(false);
  });

  it('bans for firstBanMs at the threshold', () => {
    const { ban } = refuse(undefined, T0, 3);
    expect(ban).toEqual({ durationMs: 120_000, untilMs: T0 + 2 + 120_000, offence: 1 });
  });

  it('does not count refusals spread over separate windows', () => {
    let outcome = recordRefusal(undefined, T0, policy);
    outcome = recordRefusal(outcome.record, T0 + 6_000, policy);
    outcome = recordRefusal(outcome.record, T0 + 12_000, policy);
    expect(outcome.ban).toBeUndefined();
  });

  it('doubles the ban for each repeat offence', () => {
    const first = refuse(undefined, T0, 3);
    const second = refuse(first.record, T0 + 200_000, 3);
    const third = refuse(second.record, T0 + 600_000, 3);
    expect([first, second, third].map((o) => o.ban?.durationMs)).toEqual([
      120_000, 240_000, 480_000,
    ]);
  });

  it('caps the ban at maxBanMs', () => {
    expect(banDurationMs(30, policy)).toBe(3 * 86_400_000);
    expect(banDurationMs(1_000, policy)).toBe(3 * 86_400_000);
  });

  it('forgets one offence per offenceMemoryMs without a new one', () => {
    const first = refuse(undefined, T0, 3);
    const second = refuse(first.record, T0 + 200_000, 3);
    const later = refuse(second.record, T0 + 200_000 + 86_400_000, 3);
    expect(later.ban?.offence).toBe(2);
  });

  it('reports the remaining ban time', () => {
    const { record } = refuse(undefined, T0, 3);
    expect(banStatus(record, T0 + 2 + 20_000)).toEqual({
      banned: true,
      untilMs: T0 + 2 + 120_000,
      retryAfterMs: 100_000,
    });
  });
});

describe('memory ban store', () => {
  it('lists active bans and lifts them', () => {
    const store = createMemoryBanStore({ policy });
    for (let i = 0; i < 3; i++) store.recordRefusal('203.0.113.7', T0 + i);
    expect(store.list(T0 + 10).map((b) => b.prefix)).toEqual(['203.0.113.7']);
    expect(store.lift('203.0.113.7', T0 + 10)).toBe(true);
    expect(store.status('203.0.113.7', T0 + 11).banned).toBe(false);
  });

  it('keeps the escalation level after a plain lift and resets it when forgiven', () => {
    const store = createMemoryBanStore({ policy });
    for (let i = 0; i < 3; i++) store.recordRefusal('p', T0 + i);
    store.lift('p', T0 + 10);
    let ban;
    for (let i = 0; i < 3; i++) ban = store.recordRefusal('p', T0 + 20 + i).ban;
    expect(ban?.offence).toBe(2);
    store.lift('p', T0 + 30, true);
    for (let i = 0; i < 3; i++) ban = store.recordRefusal('p', T0 + 40 + i).ban;
    expect(ban?.offence).toBe(1);
  });

  it('answers false when lifting a prefix that is not banned', () => {
    expect(createMemoryBanStore({ policy }).lift('p', T0)).toBe(false);
  });

  it('stays bounded and never drops an active ban to make room', () => {
    const store = createMemoryBanStore({ policy, maxRecords: 10 });
    for (let i = 0; i < 3; i++) store.recordRefusal('banned', T0 + i);
    for (let i = 0; i < 100; i++) store.recordRefusal(`p${i}`, T0 + 10);
    expect(store.size()).toBeLessThanOrEqual(10);
    expect(store.status('banned', T0 + 20).banned).toBe(true);
  });
});

describe('a ban decided on another node', () => {
  it('bans until the later end and escalates from the other node’s offence count', () => {
    const imposed = imposeBan(undefined, { untilMs: T0 + 240_000, offences: 2 }, T0, policy);
    expect(banStatus(imposed, T0 + 1)).toEqual({
      banned: true,
      untilMs: T0 + 240_000,
      retryAfterMs: 239_999,
    });
    // Its next offence here is the third: 2 min × 2² = 8 min.
    const after = refuse(imposed, T0 + 300_000, 3);
    expect(after.ban).toEqual({ durationMs: 480_000, untilMs: T0 + 300_002 + 480_000, offence: 3 });
  });

  it('never shortens a longer ban here, nor lowers its escalation', () => {
    const local = refuse(refuse(undefined, T0, 3).record, T0 + 200_000, 3).record; // offence 2
    const imposed = imposeBan(local, { untilMs: T0 + 200_100, offences: 1 }, T0 + 200_050, policy);
    expect(imposed?.bannedUntilMs).toBe(local.bannedUntilMs);
    expect(imposed?.offences).toBe(2);
  });

  it('changes nothing when the ban is already over', () => {
    const local = refuse(undefined, T0, 1).record;
    expect(imposeBan(local, { untilMs: T0, offences: 5 }, T0, policy)).toBe(local);
    expect(imposeBan(undefined, { untilMs: T0 - 1, offences: 5 }, T0, policy)).toBeUndefined();
  });

  it('is held by the memory store and listed, and a lift ends it', () => {
    const store = createMemoryBanStore({ policy });
    store.impose('198.51.100.7', { untilMs: T0 + 60_000, offences: 1 }, T0);
    expect(store.status('198.51.100.7', T0).banned).toBe(true);
    expect(store.list(T0)).toEqual([{ prefix: '198.51.100.7', untilMs: T0 + 60_000, offences: 1 }]);
    expect(store.lift('198.51.100.7', T0 + 1)).toBe(true);
    expect(store.status('198.51.100.7', T0 + 1).banned).toBe(false);
  });
});

describe('an offence decided by the cluster’s shared refusals', () => {
  it('bans at the next escalation level, like an offence counted here', () => {
    const store = createMemoryBanStore({ policy });
    // One refusal here (below the threshold): the cluster's count decided the offence.
    store.recordRefusal('198.51.100.7', T0);
    expect(store.offend('198.51.100.7', T0 + 1)).toEqual({
      durationMs: 120_000,
      untilMs: T0 + 1 + 120_000,
      offence: 1,
    });
    expect(store.status('198.51.100.7', T0 + 2).banned).toBe(true);
    store.lift('198.51.100.7', T0 + 3);
    expect(store.offend('198.51.100.7', T0 + 4)?.offence).toBe(2);
  });

  it('is not a second offence for a prefix banned already (the same refusals banned it)', () => {
    const store = createMemoryBanStore({ policy });
    for (let i = 0; i < 3; i++) store.recordRefusal('198.51.100.7', T0 + i);
    expect(store.status('198.51.100.7', T0 + 3).banned).toBe(true);
    expect(store.offend('198.51.100.7', T0 + 3)).toBeUndefined();
    // The ban heard from another node counts the same way.
    store.impose('203.0.113.9', { untilMs: T0 + 120_000, offences: 1 }, T0);
    expect(store.offend('203.0.113.9', T0 + 1)).toBeUndefined();
    expect(store.list(T0 + 5).map((b) => [b.prefix, b.offences])).toEqual([
      ['203.0.113.9', 1],
      ['198.51.100.7', 1],
    ]);
  });

  it('addRefusals: one fixed window from the first refusal, emptied by the offence', () => {
    const p = { refusalThreshold: 3, refusalWindowMs: 10_000 };
    const first = addRefusals(undefined, 2, T0, p);
    expect(first).toEqual({ window: { count: 2, startMs: T0 }, offence: false });
    expect(addRefusals(first.window, 1, T0 + 9_999, p)).toEqual({
      window: undefined,
      offence: true,
    });
    expect(addRefusals(first.window, 1, T0 + 10_000, p)).toEqual({
      window: { count: 1, startMs: T0 + 10_000 },
      offence: false,
    });
    expect(addRefusals(undefined, 7, T0, p)).toEqual({ window: undefined, offence: true });
  });
});
