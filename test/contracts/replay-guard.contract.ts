/**
 * The behaviour every ReplayGuard adapter must have. Each adapter's test file calls
 * `describeReplayGuardContract` with a harness that builds a fresh guard per test.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReplayGuard } from '../../src/core/replay/replay-guard.js';

export interface ReplayGuardHarness {
  readonly guard: ReplayGuard;
  /** The ttl the expiry test uses: anything for a controlled clock, short for a real one. */
  readonly shortTtlMs: number;
  /**
   * Resolves once `id`, remembered with `shortTtlMs`, has expired: by moving an injected clock,
   * or by polling the store (bounded) for a real one.
   */
  waitForExpiry(id: string): Promise<void>;
  close(): Promise<void>;
}

const TTL_MS = 60_000;

export function describeReplayGuardContract(
  name: string,
  createHarness: () => Promise<ReplayGuardHarness>,
): void {
  describe(`ReplayGuard contract: ${name}`, () => {
    let harness: ReplayGuardHarness;
    beforeEach(async () => {
      harness = await createHarness();
    });
    afterEach(async () => {
      await harness.close();
    });

    const newId = (): string => `id-${randomUUID()}`;

    it('answers fresh for an id it has not seen', async () => {
      expect(await harness.guard.remember(newId(), TTL_MS)).toBe('fresh');
    });

    it('answers replayed for the second sighting within the ttl', async () => {
      const id = newId();
      await harness.guard.remember(id, TTL_MS);
      expect(await harness.guard.remember(id, TTL_MS)).toBe('replayed');
    });

    it('keeps answering replayed for every later sighting within the ttl', async () => {
      const id = newId();
      await harness.guard.remember(id, TTL_MS);
      await harness.guard.remember(id, TTL_MS);
      expect(await harness.guard.remember(id, TTL_MS)).toBe('replayed');
    });

    it('treats different ids independently', async () => {
      const id = newId();
      await harness.guard.remember(id, TTL_MS);
      expect(await harness.guard.remember(`${id}-other`, TTL_MS)).toBe('fresh');
    });

    it('answers fresh again once the ttl has passed', async () => {
      const id = newId();
      expect(await harness.guard.remember(id, harness.shortTtlMs)).toBe('fresh');
      await harness.waitForExpiry(id);
      expect(await harness.guard.remember(id, harness.shortTtlMs)).toBe('fresh');
    });

    it('answers replayed after a re-remembered id, as for the first time', async () => {
      const id = newId();
      await harness.guard.remember(id, harness.shortTtlMs);
      await harness.waitForExpiry(id);
      await harness.guard.remember(id, TTL_MS);
      expect(await harness.guard.remember(id, TTL_MS)).toBe('replayed');
    });

    it('answers fresh to exactly one of 50 concurrent sightings of one id', async () => {
      const id = newId();
      const verdicts = await Promise.all(
        Array.from({ length: 50 }, () => Promise.resolve(harness.guard.remember(id, TTL_MS))),
      );
      expect(verdicts.filter((verdict) => verdict === 'fresh')).toHaveLength(1);
      expect(verdicts.filter((verdict) => verdict === 'replayed')).toHaveLength(49);
    });

    it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 86_400_001])(
      'refuses a ttl of %s ms as a programming error',
      async (ttlMs) => {
        await expect(
          Promise.resolve().then(() => harness.guard.remember(newId(), ttlMs)),
        ).rejects.toBeInstanceOf(RangeError);
      },
    );
  });
}
