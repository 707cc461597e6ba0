import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  createSqliteTrafficLogStore,
  migrateTrafficLog,
} from '../../src/adapters/sqlite/traffic-log-store.js';
import {
  createTrafficLog,
  type TrafficLogOptions,
  type TrafficLogStore,
  type TrafficRecord,
} from '../../src/services/traffic-log.js';
import { createManualClock } from '../helpers/manual-clock.js';
import { manualTimers } from '../helpers/manual-timers.js';

const T0 = 1_767_225_600_000;

function record(i: number, overrides: Partial<TrafficRecord> = {}): TrafficRecord {
  return {
    ts: T0 + i,
    requestId: `req_${i}`,
    environment: 'production',
    keyId: 'pk_live_a',
    accountId: 'acc_1',
    ip: '203.0.113.7',
    method: 'POST',
    action: 'order.place',
    decision: 'allow',
    status: 200,
    pipelineUs: 4.5,
    upstreamMs: 1.25,
    totalMs: 2,
    ...overrides,
  };
}

/** An in-memory store that records the batches it receives. */
function memoryStore(fail = false) {
  const batches: TrafficRecord[][] = [];
  let deletedBefore: number | undefined;
  const trims: number[] = [];
  const store: TrafficLogStore = {
    insertBatch: (records) =>
      fail
        ? Promise.reject(new Error('disk full'))
        : (batches.push([...records]), Promise.resolve()),
    query: () => Promise.resolve(batches.flat()),
    deleteOlderThan: (ts) => ((deletedBefore = ts), Promise.resolve(0)),
    deleteBeyond: (maxRows) => (trims.push(maxRows), Promise.resolve(maxRows === 7 ? 0 : 3)),
  };
  return { store, batches, deletedBefore: () => deletedBefore, trims };
}

const options: TrafficLogOptions = {
  maxBuffered: 10,
  batchSize: 4,
  flushIntervalMs: 1000,
  retentionMs: 86_400_000,
  retentionIntervalMs: 3_600_000,
  maxRows: 1_000,
  trimIntervalMs: 60_000,
};

/** Lets the promise chain of a flush settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('traffic log buffer', () => {
  it('does not touch the store while recording', () => {
    const { store, batches } = memoryStore();
    const t = manualTimers();
    const log = createTrafficLog(
      { store, clock: createManualClock(T0), timers: t.timers },
      options,
    );
    log.record(record(1));
    expect([batches.length, log.stats().buffered]).toEqual([0, 1]);
  });

  it('writes what is buffered when the flush interval fires', async () => {
    const { store, batches } = memoryStore();
    const t = manualTimers();
    const log = createTrafficLog(
      { store, clock: createManualClock(T0), timers: t.timers },
      options,
    );
    for (let i = 0; i < 3; i++) log.record(record(i));
    t.tick(1000);
    await settle();
    expect(batches.map((b) => b.map((r) => r.requestId))).toEqual([['req_0', 'req_1', 'req_2']]);
  });

  it('schedules a flush on a later turn once a batch is full, in batches of batchSize', async () => {
    const { store, batches } = memoryStore();
    const t = manualTimers();
    const log = createTrafficLog(
      { store, clock: createManualClock(T0), timers: t.timers },
      options,
    );
    for (let i = 0; i < 6; i++) log.record(record(i));
    expect([batches.length, t.pendingTimeouts()]).toEqual([0, 1]);
    t.runTimeouts();
    await settle();
    expect(batches.map((b) => b.length)).toEqual([4, 2]);
    expect(log.stats()).toEqual({ buffered: 0, dropped: 0, written: 6 });
  });

  it('drops the oldest records beyond maxBuffered and counts them', async () => {
    const { store, batches } = memoryStore();
    const drops: [string, number][] = [];
    const t = manualTimers();
    const log = createTrafficLog(
      {
        store,
        clock: createManualClock(T0),
        timers: t.timers,
        onDropped: (cause, n) => drops.push([cause, n]),
      },
      { ...options, batchSize: 100 },
    );
    for (let i = 0; i < 13; i++) log.record(record(i));
    await log.flush();
    expect(log.stats().dropped).toBe(3);
    expect(drops).toEqual([
      ['buffer_full', 1],
      ['buffer_full', 1],
      ['buffer_full', 1],
    ]);
    expect(batches.flat()[0]?.requestId).toBe('req_3');
  });

  it('counts a batch the store refuses as dropped and reports the error', async () => {
    const { store } = memoryStore(true);
    const errors: unknown[] = [];
    const t = manualTimers();
    const log = createTrafficLog(
      {
        store,
        clock: createManualClock(T0),
        timers: t.timers,
        onError: (e) => errors.push(e),
      },
      options,
    );
    log.record(record(1));
    await log.flush();
    expect([log.stats().dropped, errors.length]).toEqual([1, 1]);
  });

  it('deletes records older than retentionMs when the retention timer fires', async () => {
    const mem = memoryStore();
    const t = manualTimers();
    const clock = createManualClock(T0);
    createTrafficLog({ store: mem.store, clock, timers: t.timers }, options);
    clock.advance(5 * 86_400_000);
    t.tick(3_600_000);
    await settle();
    expect(mem.deletedBefore()).toBe(T0 + 4 * 86_400_000);
  });

  it('keeps at most maxRows records: the trim timer deletes the oldest beyond them', async () => {
    /** One trim timer tick under `maxRows`: the bounds asked of the store, the counts reported. */
    async function trimOnce(maxRows: number) {
      const mem = memoryStore();
      const t = manualTimers();
      const trimmed: number[] = [];
      createTrafficLog(
        {
          store: mem.store,
          clock: createManualClock(T0),
          timers: t.timers,
          onTrimmed: (n) => trimmed.push(n),
        },
        { ...options, maxRows },
      );
      expect(mem.trims).toEqual([]);
      t.tick(60_000);
      await settle();
      return [mem.trims, trimmed];
    }
    // The store deleted 3 beyond the bound: reported; nothing to delete is not.
    expect(await trimOnce(1_000)).toEqual([[1_000], [3]]);
    expect(await trimOnce(7)).toEqual([[7], []]);
  });

  it('stops its timers and flushes on close', async () => {
    const { store, batches } = memoryStore();
    const t = manualTimers();
    const log = createTrafficLog(
      { store, clock: createManualClock(T0), timers: t.timers },
      options,
    );
    log.record(record(1));
    await log.close();
    expect([batches.length, t.activeIntervals()]).toEqual([1, 0]);
  });
});

describe('SQLite traffic log store', () => {
  function seeded() {
    const db = new BetterSqlite3(':memory:');
    const store = createSqliteTrafficLogStore(db);
    return { db, store };
  }

  it('creates its table idempotently beside other tables', () => {
    const db = new BetterSqlite3(':memory:');
    migrateTrafficLog(db);
    migrateTrafficLog(db);
    expect(() => createSqliteTrafficLogStore(db)).not.toThrow();
  });

  it('round-trips a record, optional fields included and absent', async () => {
    const { store } = seeded();
    const full = record(1, { decision: 'deny', reason: 'SCOPE_MISSING', status: 403 });
    const bare: TrafficRecord = {
      ts: T0 + 2,
      requestId: 'req_2',
      environment: 'production',
      ip: '2001:db8::1',
      method: 'GET',
      decision: 'deny',
      reason: 'ROUTE_UNKNOWN',
      status: 404,
      pipelineUs: 1,
      totalMs: 0.1,
    };
    await store.insertBatch([full, bare]);
    expect(await store.query({ since: T0, limit: 10 })).toEqual([bare, full]);
  });

  it('filters by environment, key, account, reason and time, newest first, within limit', async () => {
    const { store } = seeded();
    await store.insertBatch([
      record(1),
      record(2, { environment: 'sandbox', keyId: 'pk_test_a' }),
      record(3, { keyId: 'pk_live_b', accountId: 'acc_2' }),
      record(4, { decision: 'deny', reason: 'IP_NOT_ALLOWED', status: 403 }),
      record(5),
    ]);
    const ids = async (q: Parameters<TrafficLogStore['query']>[0]) =>
      (await store.query(q)).map((r) => r.requestId);
    expect(await ids({ since: T0, environment: 'sandbox', limit: 10 })).toEqual(['req_2']);
    expect(await ids({ since: T0, keyId: 'pk_live_a', limit: 10 })).toEqual([
      'req_5',
      'req_4',
      'req_1',
    ]);
    expect(await ids({ since: T0, accountId: 'acc_2', limit: 10 })).toEqual(['req_3']);
    expect(await ids({ since: T0, reason: 'IP_NOT_ALLOWED', limit: 10 })).toEqual(['req_4']);
    expect(await ids({ since: T0 + 2, until: T0 + 4, limit: 10 })).toEqual(['req_3', 'req_2']);
    expect(await ids({ since: T0, limit: 2 })).toEqual(['req_5', 'req_4']);
  });

  it('deletes records older than a time and says how many', async () => {
    const { store } = seeded();
    await store.insertBatch([record(1), record(2), record(3)]);
    expect(await store.deleteOlderThan(T0 + 3)).toBe(2);
    expect((await store.query({ since: 0, limit: 10 })).map((r) => r.requestId)).toEqual(['req_3']);
  });

  it('rejects (does not throw) when a write fails', async () => {
    const { db, store } = seeded();
    db.close();
    await expect(store.insertBatch([record(1)])).rejects.toBeInstanceOf(Error);
  });

  it('works end to end with the buffered log', async () => {
    const { store } = seeded();
    const t = manualTimers();
    const log = createTrafficLog(
      { store, clock: createManualClock(T0), timers: t.timers },
      options,
    );
    for (let i = 0; i < 5; i++) log.record(record(i));
    await log.flush();
    expect(await log.query({ since: T0, limit: 100 })).toHaveLength(5);
  });
});
