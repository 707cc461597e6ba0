/**
 * The readiness check behind `GET /readyz`: the store probe (answers, fails, hangs past the
 * timeout) and the cluster sync's state, with a controlled store and fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClusterSyncStats } from '../../src/app/cluster-sync.js';
import { createReadiness, type NotReadyReason } from '../../src/app/readiness.js';

const TIMEOUT_MS = 1_000;

const syncStats = (eventsLive: boolean, trusted: boolean): ClusterSyncStats => ({
  trusted,
  eventsLive,
  lastSeq: 1,
  validatedAt: 0,
  invalidations: 0,
  failures: 0,
});

function readinessWith(
  getMeta: () => Promise<string | undefined>,
  cluster?: ClusterSyncStats,
): ReturnType<typeof createReadiness> {
  return createReadiness(
    { store: { getMeta }, cluster: () => cluster, clock: { now: () => Date.now() } },
    { probeTimeoutMs: TIMEOUT_MS },
  );
}

const answers = () => Promise.resolve(undefined);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('a single node (no cluster sync)', () => {
  it('is ready while the store answers', async () => {
    expect(await readinessWith(answers).check()).toEqual({ ready: true });
  });

  it('is not ready (STORE_UNAVAILABLE) when the store read fails', async () => {
    const failing = () => Promise.reject(new Error('connection refused'));
    expect(await readinessWith(failing).check()).toEqual({
      ready: false,
      reasons: ['STORE_UNAVAILABLE'],
    });
  });

  it('is not ready (STORE_UNAVAILABLE) when the store read throws synchronously', async () => {
    const throwing = (): Promise<string | undefined> => {
      throw new Error('database is closed');
    };
    expect(await readinessWith(throwing).check()).toEqual({
      ready: false,
      reasons: ['STORE_UNAVAILABLE'],
    });
  });

  it('answers STORE_UNAVAILABLE after the timeout when the store hangs, sharing one read', async () => {
    const getMeta = vi.fn(() => new Promise<string | undefined>(() => undefined));
    const readiness = readinessWith(getMeta);
    const first = readiness.check();
    const second = readiness.check();
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    const expected = { ready: false, reasons: ['STORE_UNAVAILABLE'] };
    expect(await first).toEqual(expected);
    expect(await second).toEqual(expected);
    expect(getMeta).toHaveBeenCalledTimes(1);
  });

  it('does not wait again on a read older than the timeout: a store back is seen at once', async () => {
    let calls = 0;
    const getMeta = () => {
      calls += 1;
      return calls === 1 ? new Promise<string | undefined>(() => undefined) : answers();
    };
    const readiness = readinessWith(getMeta);
    const stuck = readiness.check();
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(await stuck).toEqual({ ready: false, reasons: ['STORE_UNAVAILABLE'] });
    expect(await readiness.check()).toEqual({ ready: true });
    expect(calls).toBe(2);
  });
});

describe('a cluster node', () => {
  const cases: readonly {
    name: string;
    eventsLive: boolean;
    trusted: boolean;
    storeUp: boolean;
    reasons: NotReadyReason[];
  }[] = [
    {
      name: 'events live, cache trusted',
      eventsLive: true,
      trusted: true,
      storeUp: true,
      reasons: [],
    },
    {
      name: 'events down',
      eventsLive: false,
      trusted: false,
      storeUp: true,
      reasons: ['CHANGE_EVENTS_DOWN'],
    },
    {
      name: 'events live but the cache untrusted (feed unread past maxStaleness)',
      eventsLive: true,
      trusted: false,
      storeUp: true,
      reasons: ['KEY_CACHE_UNTRUSTED'],
    },
    {
      name: 'events down and the store down',
      eventsLive: false,
      trusted: false,
      storeUp: false,
      reasons: ['CHANGE_EVENTS_DOWN', 'STORE_UNAVAILABLE'],
    },
  ];

  it.each(cases)('$name', async ({ eventsLive, trusted, storeUp, reasons }) => {
    const getMeta = storeUp ? answers : () => Promise.reject(new Error('down'));
    const state = await readinessWith(getMeta, syncStats(eventsLive, trusted)).check();
    expect(state).toEqual(reasons.length === 0 ? { ready: true } : { ready: false, reasons });
  });
});
