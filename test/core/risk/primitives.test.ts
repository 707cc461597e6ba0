import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBoundedLru } from '../../../src/core/risk/bounded-lru.js';
import { riskIpPrefix } from '../../../src/core/risk/ip-prefix.js';
import {
  addToWindow,
  createWindowCounter,
  windowCount,
} from '../../../src/core/risk/window-counter.js';

describe('riskIpPrefix', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['::ffff:203.0.113.77', '203.0.113.0/24'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1::/48'],
    ['2001:db8:1:ffff::1', '2001:db8:1::/48'],
  ])('%s → %s', (address, prefix) => {
    expect(riskIpPrefix(address)).toBe(prefix);
  });

  it.each(['not-an-ip', '010.0.0.1', '1.2.3'])('refuses %s', (address) => {
    expect(riskIpPrefix(address)).toBeUndefined();
  });
});

describe('window counter', () => {
  it('counts events inside the window and forgets older ones', () => {
    const w = createWindowCounter(60_000, 12);
    for (let i = 0; i < 10; i++) addToWindow(w, i * 1000);
    expect(windowCount(w, 10_000)).toBe(10);
    expect(windowCount(w, 70_000)).toBe(0);
  });

  it('never counts more than the events of the last windowMs (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 600_000 }), { maxLength: 200 }), (times) => {
        const sorted = [...times].sort((a, b) => a - b);
        const w = createWindowCounter(60_000, 12);
        sorted.forEach((t, i) => {
          const counted = addToWindow(w, t);
          const seen = sorted.slice(0, i + 1);
          const exact = seen.filter((u) => u > t - 60_000).length;
          expect(counted).toBeLessThanOrEqual(exact);
          // …and at least the events of the last windowMs − one slot.
          const recent = seen.filter((u) => u > t - 55_000).length;
          expect(counted).toBeGreaterThanOrEqual(recent);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('bounded LRU', () => {
  it('evicts the least recently used entry beyond its bound', () => {
    const lru = createBoundedLru<number>(2);
    lru.getOrCreate('a', () => 1);
    lru.getOrCreate('b', () => 2);
    lru.get('a');
    lru.getOrCreate('c', () => 3);
    expect([...lru.keys()]).toEqual(['a', 'c']);
  });

  it('keeps the bound and never drops one of the ⌈bound / 2⌉ + 1 most recently used keys', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 11 })), { maxLength: 300 }),
        (bound, ops) => {
          const lru = createBoundedLru<number>(bound);
          const recent: string[] = []; // exact LRU order of use, most recent last
          const kept = bound - Math.floor(bound / 2) + 1;
          for (const [create, n] of ops) {
            const key = String.fromCharCode(97 + n);
            const used = create ? lru.getOrCreate(key, () => n) : lru.get(key);
            if (used !== undefined) {
              expect(used).toBe(n);
              const at = recent.indexOf(key);
              if (at >= 0) recent.splice(at, 1);
              recent.push(key);
            }
            expect(lru.size).toBeLessThanOrEqual(bound);
            const present = new Set(lru.keys());
            for (const k of recent.slice(-Math.min(kept, bound))) expect(present.has(k)).toBe(true);
          }
        },
      ),
    );
  });
});
