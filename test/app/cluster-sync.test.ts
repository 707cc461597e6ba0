/**
 * The cluster sync over a real SQLite control store: node A changes keys through the key
 * service (its events go to A's own bus), node B has its own key cache and event source that the
 * test controls, so an event "lost" between the nodes is simply one B never receives. The
 * clock is manual and every re-validation pass is run by the test: nothing waits on time.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditHead, createClusterSync, type ClusterSync } from '../../src/app/cluster-sync.js';
import { createLocalEvents } from '../../src/app/local-events.js';
import type { ControlStore } from '../../src/ports.js';
import { createKeyCache, type KeyCache } from '../../src/services/key-cache.js';
import {
  createTestControlPlane,
  TEST_CTX,
  type TestControlPlane,
} from '../helpers/control-plane.js';

const INTERVAL_MS = 1_000;

let plane: TestControlPlane;
let cacheB: KeyCache;
let feedDown: boolean;
let reloads: number;
let sync: ClusterSync;
/** What the sync handed to B's bans: the ban entries it applied, and the Redis re-reads. */
let banEntries: string[];
let banReloads: number;

/** B's view of a key: from its cache when trusted, else from the store. */
async function statusOnB(keyId: string): Promise<string | undefined> {
  const cached = await cacheB.get(keyId);
  return cached?.key.status;
}

async function newKey(): Promise<string> {
  const account = await plane.keys.createAccount('cluster', TEST_CTX);
  const created = await plane.keys.createKey(
    { accountId: account.id, environment: 'sandbox', scheme: 'hmac', scopes: ['read'] },
    TEST_CTX,
  );
  return created.key.id;
}

beforeEach(async () => {
  plane = await createTestControlPlane();
  // B's bus: nothing node A publishes reaches it (the lost event).
  cacheB = createKeyCache({ keys: plane.keys, events: createLocalEvents() }, { maxEntries: 100 });
  feedDown = false;
  reloads = 0;
  banEntries = [];
  banReloads = 0;
  const feed: Pick<ControlStore, 'listAudit'> = {
    listAudit: (query) =>
      feedDown ? Promise.reject(new Error('store unreachable')) : plane.store.listAudit(query),
  };
  sync = createClusterSync(
    {
      feed,
      keyCache: cacheB,
      policies: {
        reload: () => {
          reloads += 1;
          return Promise.resolve();
        },
      },
      bans: {
        apply: (entry) => banEntries.push(`${entry.action} ${entry.target}`),
        reload: () => {
          banReloads += 1;
          return Promise.resolve();
        },
      },
      clock: plane.clock,
    },
    {
      revalidateIntervalMs: INTERVAL_MS,
      maxStalenessMs: 2 * INTERVAL_MS,
      pageSize: 4,
      maxPages: 3,
    },
  );
  await sync.start(true);
});

afterEach(async () => {
  cacheB.close();
  await plane.close();
});

describe('a lost event', () => {
  it('leaves the cached key stale only until the next re-validation', async () => {
    const keyId = await newKey();
    expect(await statusOnB(keyId)).toBe('active');
    await plane.keys.revokeKey(keyId, TEST_CTX);
    // The event never reached B: its cache still holds the active key (what the pass fixes).
    expect(await statusOnB(keyId)).toBe('active');
    await sync.revalidate();
    expect(await statusOnB(keyId)).toBe('revoked');
  });

  it('applies scope and rotation changes found in the feed, and only to the changed key', async () => {
    const changed = await newKey();
    const untouched = await newKey();
    await sync.revalidate(); // past the two creations
    await statusOnB(changed);
    await statusOnB(untouched);
    await plane.keys.updateKey(changed, { scopes: ['read', 'trade'] }, TEST_CTX);
    await sync.revalidate();
    expect(cacheB.stats().size).toBe(1);
    expect((await cacheB.get(changed))?.key.scopes).toEqual(['read', 'trade']);
  });

  it('re-reads policies when the feed shows a policy change', async () => {
    const before = reloads;
    await sync.revalidate();
    expect(reloads).toBe(before);
    await plane.store.appendAudit({
      ts: plane.clock.now(),
      actor: 'test',
      action: 'policy.update',
      target: 'pol_x',
      requestId: 'req_test',
      data: {},
    });
    await sync.revalidate();
    expect(reloads).toBe(before + 1);
  });

  it('hands the bans and lifts it reads to the node’s bans, in the order of the log', async () => {
    const ban = (action: string, target: string) =>
      plane.store.appendAudit({
        ts: plane.clock.now(),
        actor: 'system',
        action,
        target,
        requestId: 'rate-limit',
        data: {},
      });
    await ban('ban.create', '198.51.100.7');
    await ban('ban.lift', '198.51.100.7');
    await ban('ban.create', '203.0.113.9');
    await sync.revalidate();
    expect(banEntries).toEqual([
      'ban.create 198.51.100.7',
      'ban.lift 198.51.100.7',
      'ban.create 203.0.113.9',
    ]);
    await sync.revalidate();
    expect(banEntries).toHaveLength(3);
  });

  it('drops every cached key and jumps to the head after a backlog longer than its pages', async () => {
    const keyId = await newKey();
    await statusOnB(keyId);
    // 4 per page, 3 pages: 13 unrelated entries overflow one pass.
    for (let i = 0; i < 13; i++) await plane.keys.createAccount(`filler ${i}`, TEST_CTX);
    await sync.revalidate();
    expect(cacheB.stats().size).toBe(0);
    const all = await plane.store.listAudit({ limit: 1_000 });
    expect(sync.stats().lastSeq).toBe(all.at(-1)?.seq);
    // Bans in the skipped entries are re-read from where they are kept.
    expect(banReloads).toBe(1);
  });
});

describe('the event connection', () => {
  it('while it is down, every lookup reads the store (a revocation is seen at once)', async () => {
    const keyId = await newKey();
    await statusOnB(keyId);
    sync.eventsStatus(false);
    expect(sync.stats().trusted).toBe(false);
    await plane.keys.revokeKey(keyId, TEST_CTX);
    expect(await statusOnB(keyId)).toBe('revoked');
  });

  it('when it is back, the cache is emptied once and trusted again', async () => {
    const keyId = await newKey();
    await statusOnB(keyId);
    sync.eventsStatus(false);
    const reloadsWhileDown = reloads;
    await sync.revalidate();
    // While events are down a policy change could only be seen in the feed: re-read every pass.
    expect(reloads).toBe(reloadsWhileDown + 1);
    expect(banReloads).toBe(0);
    sync.eventsStatus(true);
    expect(sync.stats().trusted).toBe(true);
    expect(cacheB.stats().size).toBe(0);
    // Bans announced while the subscription was down never arrive: re-read once.
    expect(banReloads).toBe(1);
    await statusOnB(keyId);
    const hits = cacheB.stats().hits;
    await statusOnB(keyId);
    expect(cacheB.stats().hits).toBe(hits + 1);
  });

  it('a node that starts without events does not trust its cache until they arrive', async () => {
    const keyId = await newKey();
    const cold = createKeyCache(
      { keys: plane.keys, events: createLocalEvents() },
      { maxEntries: 10 },
    );
    const coldSync = createClusterSync(
      { feed: plane.store, keyCache: cold, clock: plane.clock },
      { revalidateIntervalMs: INTERVAL_MS, maxStalenessMs: 2 * INTERVAL_MS },
    );
    await coldSync.start(false);
    expect(coldSync.stats().trusted).toBe(false);
    await cold.get(keyId);
    await cold.get(keyId);
    expect(cold.stats().hits).toBe(0);
    coldSync.eventsStatus(true);
    expect(coldSync.stats().trusted).toBe(true);
    cold.close();
  });
});

describe('the staleness bound', () => {
  it('stops trusting the cache once the feed has not been read for maxStaleness', async () => {
    const keyId = await newKey();
    await statusOnB(keyId);
    feedDown = true;
    plane.clock.advance(INTERVAL_MS);
    await sync.revalidate();
    expect(sync.stats().trusted).toBe(true);
    plane.clock.advance(INTERVAL_MS);
    await sync.revalidate();
    expect(sync.stats().trusted).toBe(false);
    expect(sync.stats().failures).toBe(2);
    feedDown = false;
    await plane.keys.revokeKey(keyId, TEST_CTX);
    // Untrusted: the store answers, even before the feed is read again.
    expect(await statusOnB(keyId)).toBe('revoked');
    await sync.revalidate();
    expect(sync.stats().trusted).toBe(true);
    expect(await statusOnB(keyId)).toBe('revoked');
  });
});

describe('auditHead', () => {
  it('finds the last seq of the log (or 0 when it is empty)', async () => {
    const empty: Pick<ControlStore, 'listAudit'> = { listAudit: () => Promise.resolve([]) };
    expect(await auditHead(empty)).toBe(0);
    for (const count of [0, 1, 6, 30]) {
      for (let i = 0; i < count; i++) await plane.keys.createAccount(`a${i}`, TEST_CTX);
      const all = await plane.store.listAudit({ limit: 100_000 });
      expect(await auditHead(plane.store)).toBe(all.at(-1)?.seq ?? 0);
    }
  });
});
