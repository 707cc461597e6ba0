/**
 * The shared failure windows and rate states in process memory: what the cluster's Redis does
 * (src/adapters/redis/shared-risk-windows.ts), for one process. The contract suite runs against
 * both; a test can give several monitors one instance, as several nodes share one Redis.
 * Bounded: at most `maxWindows` windows and as many cooldowns (least recently added dropped).
 * One difference: a cooldown here runs on the events' time (as the engine's), on Redis on Redis's
 * clock (`SET PX`); in a running gateway the two agree.
 */
import { createBoundedLru } from '../../core/risk/bounded-lru.js';
import { createRateState, type RateState } from '../../core/risk/detectors.js';
import {
  addRateCounts,
  FAILURE_WINDOW_SLOTS,
  type SharedRiskWindows,
  type WindowAnswer,
  type WindowContribution,
} from '../../core/risk/shared-windows.js';

export function createMemorySharedRiskWindows(maxWindows = 20_000): SharedRiskWindows {
  const counts = createBoundedLru<Map<number, number>>(maxWindows);
  const members = createBoundedLru<Map<string, number>>(maxWindows);
  const cooldowns = createBoundedLru<{ untilMs: number }>(maxWindows);
  const rates = createBoundedLru<{ state: RateState; lastMs: number }>(maxWindows);

  function observe(c: WindowContribution, nowMs: number): number {
    if (c.kind === 'failure_burst') {
      const slots = counts.getOrCreate(c.id, () => new Map());
      for (const [slot, n] of c.counts) slots.set(slot, (slots.get(slot) ?? 0) + n);
      const current = Math.floor(nowMs / c.slotMs);
      let total = 0;
      for (const [slot, n] of slots) {
        if (slot <= current - FAILURE_WINDOW_SLOTS) slots.delete(slot);
        else if (slot <= current) total += n;
      }
      return total;
    }
    const failing = members.getOrCreate(c.id, () => new Map());
    for (const [member, atMs] of c.members) {
      failing.set(member, Math.max(failing.get(member) ?? -Infinity, atMs));
    }
    for (const [member, atMs] of failing) if (atMs < nowMs - c.windowMs) failing.delete(member);
    if (failing.size > c.maxTracked) {
      const newest = [...failing].sort((a, b) => b[1] - a[1]).slice(0, c.maxTracked);
      failing.clear();
      for (const [member, atMs] of newest) failing.set(member, atMs);
    }
    return failing.size;
  }

  function claim(c: WindowContribution, nowMs: number): boolean {
    if (c.cooldownMs <= 0) return true;
    const slot = cooldowns.getOrCreate(c.id, () => ({ untilMs: -Infinity }));
    if (nowMs < slot.untilMs) return false;
    slot.untilMs = nowMs + c.cooldownMs;
    return true;
  }

  return {
    add(contributions) {
      const answers: WindowAnswer[] = contributions.map((c) => {
        const nowMs = c.last.nowMs;
        if (c.kind === 'rate_spike' && c.rate !== undefined) {
          const entry = rates.getOrCreate(c.id, () => ({
            state: createRateState(),
            lastMs: nowMs,
          }));
          // As Redis's TTL: a baseline idle for longer than the window is learnt again.
          if (nowMs - entry.lastMs > c.windowMs) entry.state = createRateState();
          entry.lastMs = nowMs;
          return addRateCounts(entry.state, c.counts, c.rate, c.threshold, () => claim(c, nowMs));
        }
        const observed = observe(c, nowMs);
        return { observed, raise: observed >= c.threshold && claim(c, nowMs) };
      });
      return Promise.resolve(answers);
    },
  };
}
