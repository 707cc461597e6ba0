import { describe, expect, it } from 'vitest';
import {
  createMemoryReplayGuard,
  type MemoryReplayGuard,
} from '../../src/adapters/memory/replay-guard.js';
import type { Clock } from '../../src/core/clock.js';
import { describeReplayGuardContract } from './replay-guard.contract.js';

function manualClock(startMs = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
  };
}

describeReplayGuardContract('memory', () => {
  const clock = manualClock();
  const shortTtlMs = 1000;
  return Promise.resolve({
    guard: createMemoryReplayGuard({ clock }),
    shortTtlMs,
    waitForExpiry: () => {
      clock.advance(shortTtlMs);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  });
});

describe('memory replay guard', () => {
  function setup(options: { maxEntries?: number; sliceMs?: number } = {}): {
    clock: ReturnType<typeof manualClock>;
    guard: MemoryReplayGuard;
  } {
    const clock = manualClock();
    return { clock, guard: createMemoryReplayGuard({ clock }, options) };
  }

  it('still answers replayed one millisecond before the ttl ends', () => {
    const { clock, guard } = setup();
    guard.remember('a', 5000);
    clock.advance(4999);
    expect(guard.remember('a', 5000)).toBe('replayed');
  });

  it('answers fresh exactly when the ttl ends', () => {
    const { clock, guard } = setup();
    guard.remember('a', 5000);
    clock.advance(5000);
    expect(guard.remember('a', 5000)).toBe('fresh');
  });

  it('does not extend the ttl of an id on a replayed sighting', () => {
    const { clock, guard } = setup();
    guard.remember('a', 5000);
    clock.advance(4000);
    guard.remember('a', 5000);
    clock.advance(1000);
    expect(guard.remember('a', 5000)).toBe('fresh');
  });

  it('answers unavailable for a new id once the bound is reached', () => {
    const { guard } = setup({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c']) guard.remember(id, 60_000);
    expect(guard.remember('d', 60_000)).toBe('unavailable');
  });

  it('does not record an id it answered unavailable for', () => {
    const { guard } = setup({ maxEntries: 1 });
    guard.remember('a', 60_000);
    guard.remember('b', 60_000);
    expect(guard.size).toBe(1);
  });

  it('still answers replayed for a held id at the bound', () => {
    const { guard } = setup({ maxEntries: 2 });
    guard.remember('a', 60_000);
    guard.remember('b', 60_000);
    expect(guard.remember('a', 60_000)).toBe('replayed');
  });

  it('accepts new ids again once held ones expire', () => {
    const { clock, guard } = setup({ maxEntries: 2, sliceMs: 1000 });
    guard.remember('a', 1000);
    guard.remember('b', 1000);
    clock.advance(2000);
    expect(guard.remember('c', 1000)).toBe('fresh');
  });

  it('sweeps expired ids incrementally without being asked for them', () => {
    const { clock, guard } = setup({ sliceMs: 100 });
    for (let i = 0; i < 1000; i++) guard.remember(`old-${i}`, 1000);
    clock.advance(1200);
    for (let i = 0; i < 200; i++) guard.remember(`new-${i}`, 1000);
    expect(guard.size).toBe(200);
  });

  it('keeps an id re-remembered after expiry when its old bucket is swept', () => {
    const { clock, guard } = setup({ sliceMs: 100 });
    guard.remember('a', 100);
    clock.advance(100);
    guard.remember('a', 10_000);
    clock.advance(500);
    for (let i = 0; i < 50; i++) guard.remember(`filler-${i}`, 10_000);
    expect(guard.remember('a', 10_000)).toBe('replayed');
  });

  it('still sweeps after the clock steps backwards', () => {
    const { clock, guard } = setup({ sliceMs: 100 });
    clock.advance(10_000);
    guard.remember('late', 1000);
    clock.advance(-9_000);
    for (let i = 0; i < 100; i++) guard.remember(`early-${i}`, 100);
    clock.advance(20_000);
    for (let i = 0; i < 30; i++) guard.remember(`after-${i}`, 100);
    expect(guard.size).toBe(30);
  });

  it.each([0, -1, 1.5])('refuses maxEntries %s', (maxEntries) => {
    expect(() => setup({ maxEntries })).toThrow(RangeError);
  });
});
