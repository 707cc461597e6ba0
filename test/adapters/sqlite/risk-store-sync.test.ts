/**
 * Sightings are written without an fsync of their own (synchronous = NORMAL, WAL mode), every
 * other write of the control store keeps FULL. A write's level is observed from inside SQLite:
 * a trigger calls a JavaScript function, and the connection's pragma calls are logged around it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteRiskStore, relaxedSync } from '../../../src/adapters/sqlite/risk-store.js';
import type { Sighting, SightingRule } from '../../../src/core/risk/sightings.js';
import type { StoredAlert } from '../../../src/services/risk-store.js';

const T0 = 1_767_225_600_000;
const sighting = (value: string, atMs = T0): Sighting => ({
  environment: 'production',
  subject: { type: 'key', id: 'pk_live_a' },
  kind: 'prefix',
  value,
  atMs,
});
const rule: SightingRule = { sinceMs: T0 - 30 * 86_400_000, keep: 16 };
const alert: StoredAlert = {
  id: 'alr_1',
  state: 'open',
  signal: 'new_ip_prefix',
  step: 'step_down',
  environment: 'production',
  keyId: 'pk_live_a',
  accountId: null,
  ipPrefix: '198.51.100.0/24',
  observed: null,
  threshold: null,
  responseId: null,
  createdAt: T0,
  updatedAt: T0,
  updatedBy: null,
};

let dir: string;
let db: Database;
/** What the connection did, in order: pragma changes and the writes the triggers saw. */
let log: string[];

/** Opens `file` with the given journal mode and level, logging pragma changes and writes. */
function open(journal: string, synchronous: string): Database {
  const opened = new BetterSqlite3(join(dir, 'portcullis.db'));
  opened.pragma(`journal_mode = ${journal}`);
  opened.pragma(`synchronous = ${synchronous}`);
  const pragma = opened.pragma.bind(opened);
  opened.pragma = (source: string, options?: { simple?: boolean }) => {
    if (source.includes('=')) log.push(source.replace(/\s+/g, ' '));
    return pragma(source, options);
  };
  opened.function('probe', (table: unknown) => {
    log.push(`write ${String(table)}`);
    return null;
  });
  return opened;
}

/** Triggers that log each write to the two tables below (after the store created them). */
function watchWrites(on: Database): void {
  for (const table of ['risk_sightings', 'risk_alerts']) {
    on.exec(`CREATE TRIGGER watch_${table} AFTER INSERT ON ${table}
      BEGIN SELECT probe('${table}'); END`);
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-risk-sync-'));
  log = [];
});
afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sightings on the SQLite control store', () => {
  it('are written at NORMAL in WAL mode, and the level is FULL again once they commit', async () => {
    db = open('WAL', 'FULL'); // as the control store opens its file
    const store = createSqliteRiskStore(db);
    watchWrites(db);
    log = [];
    expect(await store.sight(sighting('198.51.100.0/24'), rule)).toEqual({
      first: true,
      others: 0,
    });
    expect(log).toEqual(['synchronous = 1', 'write risk_sightings', 'synchronous = 2']);
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    // Every other write keeps FULL: an alert is stored without a change of level.
    log = [];
    await store.insertAlert(alert);
    expect(log).toEqual(['write risk_alerts']);
  });

  it('leave the level at FULL when the sighting fails, and the failure is the caller’s', async () => {
    db = open('WAL', 'FULL');
    const store = createSqliteRiskStore(db);
    db.exec(`CREATE TRIGGER refuse AFTER INSERT ON risk_sightings
      BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    await expect(store.sight(sighting('198.51.100.0/24'), rule)).rejects.toThrow('disk full');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.prepare('SELECT count(*) AS n FROM risk_sightings').get()).toEqual({ n: 0 });
  });

  it('committed at NORMAL, are read by the next connection to open the file', async () => {
    db = open('WAL', 'FULL');
    await createSqliteRiskStore(db).sight(sighting('198.51.100.0/24'), rule);
    db.close();
    db = open('WAL', 'FULL');
    const again = await createSqliteRiskStore(db).sight(sighting('198.51.100.0/24', T0 + 1), rule);
    expect(again).toEqual({ first: false, others: 0 });
  });

  it('change nothing outside WAL mode, at a level of NORMAL or lower, or inside a transaction', async () => {
    for (const [journal, level] of [
      ['MEMORY', 'OFF'], // the bench's bulk mode
      ['DELETE', 'FULL'], // NORMAL could corrupt a rollback journal on power loss
      ['WAL', 'NORMAL'],
    ] as const) {
      db = open(journal, level);
      const store = createSqliteRiskStore(db);
      watchWrites(db);
      log = [];
      await store.sight(sighting('198.51.100.0/24'), rule);
      expect(log, `${journal} ${level}`).toEqual(['write risk_sightings']);
      db.close();
      rmSync(join(dir, 'portcullis.db'), { force: true });
    }
    db = open('WAL', 'FULL');
    const relaxed = relaxedSync(db);
    log = [];
    db.transaction(() => relaxed(() => log.push('work')))();
    expect(log).toEqual(['work']);
  });
});
