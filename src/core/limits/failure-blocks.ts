/**
 * IP prefixes whose unauthenticated-failure budget is spent, and until when. The budget itself
 * lives in the RateLimiter (`fail:<prefix>` buckets, shared across nodes with Redis); when a
 * failure charge is refused the prefix lands here, so that its next requests are refused with
 * one Map lookup before any verification work. Bounded: at the bound, expired entries go first,
 * then the oldest.
 */
export interface FailureBlocks {
  /** Milliseconds the prefix is still blocked at `nowMs`; 0 when it is not. */
  blockedFor(prefix: string, nowMs: number): number;
  block(prefix: string, untilMs: number, nowMs: number): void;
  size(): number;
}

/** Creates the bounded block list (default 100,000 prefixes). */
export function createFailureBlocks(maxEntries = 100_000): FailureBlocks {
  const until = new Map<string, number>();

  function makeRoom(nowMs: number): void {
    for (const [prefix, end] of until) if (end <= nowMs) until.delete(prefix);
    // Maps iterate in insertion order: the first entries are the oldest blocks.
    for (const prefix of until.keys()) {
      if (until.size < maxEntries) return;
      until.delete(prefix);
    }
  }

  return {
    blockedFor(prefix, nowMs) {
      if (until.size === 0) return 0;
      const end = until.get(prefix);
      if (end === undefined) return 0;
      if (end > nowMs) return end - nowMs;
      until.delete(prefix);
      return 0;
    },
    block(prefix, untilMs, nowMs) {
      if (!until.has(prefix) && until.size >= maxEntries) makeRoom(nowMs);
      until.delete(prefix); // re-insert: the newest block is the last to be evicted
      until.set(prefix, untilMs);
    },
    size: () => until.size,
  };
}
