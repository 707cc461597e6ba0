/** The last-use tracker over the real SQLite store: newest use wins, batched writes, restart. */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteKeyUseStore } from '../../src/adapters/sqlite/key-use-store.js';
import { createKeyUseTracker } from '../../src/services/key-use.js';

const dbs: BetterSqlite3.Database[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

function setup(nowMs = { value: 1_000 }) {
  const db = new BetterSqlite3(':memory:');
  dbs.push(db);
  const store = createSqliteKeyUseStore(db);
  const tracker = createKeyUseTracker(
    { store, now: () => nowMs.value },
    { flushMs: 5_000, maxKeys: 100 },
  );
  return { db, store, tracker, nowMs };
}

describe('createKeyUseTracker', () => {
  it('keeps the newest use; an older one noted late does not replace it', () => {
    const { tracker } = setup();
    tracker.note('pk_a', 2_000, '198.51.100.7');
    tracker.note('pk_a', 1_500, '203.0.113.9');
    expect(tracker.lastUse('pk_a')).toEqual({ at: 2_000, ip: '198.51.100.7' });
    expect(tracker.lastUse('pk_never')).toBeUndefined();
  });

  it('writes in batches: nothing before flushMs, everything pending after', () => {
    const { store, tracker, nowMs } = setup();
    tracker.note('pk_a', 1_000, '198.51.100.7');
    expect(store.read('pk_a')).toBeUndefined();
    nowMs.value += 5_000;
    tracker.note('pk_b', 6_000, '203.0.113.9');
    expect(store.read('pk_a')).toEqual({ at: 1_000, ip: '198.51.100.7' });
    expect(store.read('pk_b')).toEqual({ at: 6_000, ip: '203.0.113.9' });
  });

  it('a new tracker over the same store (a restart) reads what was flushed', () => {
    const { store, tracker } = setup();
    tracker.note('pk_a', 1_000, '2001:db8::1');
    tracker.flush();
    const restarted = createKeyUseTracker({ store, now: () => 0 }, { flushMs: 5_000, maxKeys: 10 });
    expect(restarted.lastUse('pk_a')).toEqual({ at: 1_000, ip: '2001:db8::1' });
  });

  it('the store never moves a key back in time', () => {
    const { store } = setup();
    store.write([{ keyId: 'pk_a', at: 5, ip: 'new' }]);
    store.write([{ keyId: 'pk_a', at: 4, ip: 'old' }]);
    expect(store.read('pk_a')).toEqual({ at: 5, ip: 'new' });
  });
});
