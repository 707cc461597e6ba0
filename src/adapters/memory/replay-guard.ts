/**
 * In-process replay guard for the single-node shape. Bounded: at most `maxEntries` ids are held,
 * and at the bound a new id is answered `unavailable` (fail closed) — evicting an unexpired id
 * to make room would let that id be replayed.
 *
 * Layout: one Map id → expiry time answers lookups exactly; expired ids are swept incrementally
 * through time buckets (ids grouped by the slice their expiry falls in). Each call sweeps at most
 * a few ids from buckets whose slice is wholly past, so the cost is O(1) amortised with no pauses.
 */
import type { Clock } from '../../core/clock.js';
import {
  checkedTtlMs,
  type ReplayGuard,
  type ReplayVerdict,
} from '../../core/replay/replay-guard.js';

export interface MemoryReplayGuardOptions {
  /** Most ids held at once. Default 250,000 — about 40 MB of heap with 45-char ids. */
  readonly maxEntries?: number;
  /** Width of a sweep bucket; expired ids are freed up to this much late. Default 1,000 ms. */
  readonly sliceMs?: number;
}

export interface MemoryReplayGuard extends ReplayGuard {
  remember(id: string, ttlMs: number): ReplayVerdict;
  /** Ids currently held, including expired ones not yet swept. */
  readonly size: number;
}

export const DEFAULT_MAX_REPLAY_ENTRIES = 250_000;
const DEFAULT_SLICE_MS = 1000;
/** Ids swept per call: more than the one a call can add, so sweeping keeps pace. */
const SWEEP_PER_CALL = 8;
/** At the bound, sweep harder before refusing. */
const SWEEP_AT_BOUND = 1024;

/** Creates the in-memory guard; time comes only from the injected clock. */
export function createMemoryReplayGuard(
  deps: { readonly clock: Clock },
  options: MemoryReplayGuardOptions = {},
): MemoryReplayGuard {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_REPLAY_ENTRIES;
  const sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError('maxEntries must be a positive integer');
  }
  if (!Number.isSafeInteger(sliceMs) || sliceMs < 1) {
    throw new RangeError('sliceMs must be a positive integer');
  }
  return new BoundedReplayGuard(deps.clock, maxEntries, sliceMs);
}

class BoundedReplayGuard implements MemoryReplayGuard {
  private readonly expiries = new Map<string, number>();
  /** Bucket number (floor(expiry / sliceMs)) → ids whose expiry falls in that slice. */
  private readonly buckets = new Map<number, string[]>();
  /** Every bucket below this number has been taken for sweeping. */
  private cursor = -Infinity;
  private sweeping: string[] | undefined;
  private sweepIndex = 0;
  private lastBucket = Number.NaN;
  private lastBucketIds: string[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly maxEntries: number,
    private readonly sliceMs: number,
  ) {}

  get size(): number {
    return this.expiries.size;
  }

  remember(id: string, ttlMs: number): ReplayVerdict {
    const ttl = checkedTtlMs(ttlMs);
    const now = this.clock.now();
    this.sweep(now, SWEEP_PER_CALL);
    const expiresAt = this.expiries.get(id);
    if (expiresAt !== undefined) {
      if (expiresAt > now) return 'replayed';
    } else if (this.expiries.size >= this.maxEntries) {
      this.sweep(now, SWEEP_AT_BOUND);
      if (this.expiries.size >= this.maxEntries) return 'unavailable';
    }
    const until = now + ttl;
    this.expiries.set(id, until);
    this.bucketFor(until).push(id);
    return 'fresh';
  }

  private bucketFor(expiresAt: number): string[] {
    const bucket = Math.floor(expiresAt / this.sliceMs);
    if (bucket === this.lastBucket) return this.lastBucketIds;
    let ids = this.buckets.get(bucket);
    if (ids === undefined) {
      ids = [];
      this.buckets.set(bucket, ids);
      // A clock that stepped back can file an id below the cursor; sweep from there again.
      if (bucket < this.cursor) this.cursor = bucket;
    }
    this.lastBucket = bucket;
    this.lastBucketIds = ids;
    return ids;
  }

  /** Frees up to `budget` expired ids from buckets whose whole slice is in the past. */
  private sweep(now: number, budget: number): void {
    const due = Math.floor(now / this.sliceMs);
    while (budget > 0) {
      if (this.sweeping === undefined && !this.takeBucket(due)) return;
      const ids = this.sweeping ?? [];
      while (budget > 0 && this.sweepIndex < ids.length) {
        const id = ids[this.sweepIndex++] ?? '';
        const expiresAt = this.expiries.get(id);
        // The id may have been remembered again since; only its latest expiry counts.
        if (expiresAt !== undefined && expiresAt <= now) this.expiries.delete(id);
        budget--;
      }
      if (this.sweepIndex >= ids.length) this.sweeping = undefined;
    }
  }

  /** Moves the lowest bucket below `due` into `sweeping`; false when none is due. */
  private takeBucket(due: number): boolean {
    if (this.cursor >= due) return false;
    if (this.buckets.size === 0) {
      this.cursor = due;
      return false;
    }
    let ids = this.buckets.get(this.cursor);
    if (ids === undefined) {
      // Skip empty slices in one step; runs at most once per bucket taken, over few buckets.
      this.cursor = this.lowestBucket();
      if (this.cursor >= due) return false;
      ids = this.buckets.get(this.cursor) ?? [];
    }
    this.buckets.delete(this.cursor);
    if (this.cursor === this.lastBucket) this.lastBucket = Number.NaN;
    this.cursor++;
    this.sweeping = ids;
    this.sweepIndex = 0;
    return true;
  }

  private lowestBucket(): number {
    let lowest = Infinity;
    for (const bucket of this.buckets.keys()) if (bucket < lowest) lowest = bucket;
    return lowest;
  }
}
