/**
 * GET /v1/audit's filters and GET /v1/accounts' pages are index ranges, not scans or sorts of a
 * whole table: SQLite is asked for the plan of the very statements the store runs, on a migrated
 * file.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS, migrateSqlite } from '../../../src/adapters/sqlite/migrations.js';
import {
  ACCOUNT_PAGE_SQL,
  auditListSql,
} from '../../../src/adapters/sqlite/sqlite-control-store.js';
import type { AuditQuery } from '../../../src/ports.js';

const NOW_MS = 1_767_225_600_000;
const LATEST = SQLITE_MIGRATIONS.map((migration) => migration.version);

function planOf(db: Database, sql: string, params: readonly unknown[]): string {
  const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
  return rows.map((row) => row.detail).join(' | ');
}

function plan(db: Database, query: AuditQuery): string {
  const { sql, params } = auditListSql(query);
  return planOf(db, sql, params);
}

function append(db: Database, count: number, actionOf: (seq: number) => string): void {
  const insert = db.prepare(
    `INSERT INTO audit_log (seq, ts, actor, action, target, request_id, data, prev_hash, hash, seal)
     VALUES (?, ?, 'adm_1', ?, ?, 'req', '{}', 'p', 'h', 's')`,
  );
  db.transaction(() => {
    for (let seq = 1; seq <= count; seq++) insert.run(seq, seq, actionOf(seq), `key_${seq % 7}`);
  })();
}

describe('SQLite list indexes', () => {
  const open: Database[] = [];
  const fresh = (): Database => {
    const db = new BetterSqlite3(':memory:');
    open.push(db);
    migrateSqlite(db, NOW_MS);
    return db;
  };
  afterEach(() => open.splice(0).forEach((db) => db.close()));

  it('reads an action filter after a cursor as a range of the action index', () => {
    const db = fresh();
    expect(plan(db, { action: 'master_key.rotate', afterSeq: 100, limit: 50 })).toBe(
      'SEARCH audit_log USING INDEX audit_log_action (action=? AND rowid>?)',
    );
    expect(plan(db, { action: 'key.revoke', limit: 50 })).toBe(
      'SEARCH audit_log USING INDEX audit_log_action (action=?)',
    );
  });

  it('reads a target filter as a range of the target index, and no filter by seq', () => {
    const db = fresh();
    expect(plan(db, { target: 'key_3', afterSeq: 10, limit: 50 })).toBe(
      'SEARCH audit_log USING INDEX audit_log_target (target=? AND rowid>?)',
    );
    expect(plan(db, { afterSeq: 10, limit: 50 })).toBe(
      'SEARCH audit_log USING INTEGER PRIMARY KEY (rowid>?)',
    );
  });

  it('gives the same entries through the index, in seq order from the cursor', () => {
    const db = fresh();
    append(db, 5_000, (seq) => (seq % 1000 === 0 ? 'key.revoke' : 'key.create'));
    const { sql, params } = auditListSql({ action: 'key.revoke', afterSeq: 2_000, limit: 2 });
    const seqs = (db.prepare(sql).all(...params) as { seq: number }[]).map((row) => row.seq);
    expect(seqs).toEqual([3_000, 4_000]);
  });

  it('upgrades a file made before the index, keeping its entries', () => {
    const db = fresh();
    db.exec('DROP INDEX audit_log_action; DELETE FROM schema_migrations WHERE version = 6');
    append(db, 10, () => 'key.create');
    expect(migrateSqlite(db, NOW_MS)).toEqual([6]);
    expect(db.prepare('SELECT count(*) AS n FROM audit_log').get()).toEqual({ n: 10 });
    expect(plan(db, { action: 'key.create', limit: 1 })).toContain('audit_log_action');
    expect(LATEST).toContain(6);
  });

  it('pages accounts along the (created_at, id) index, with no sort (migration 7)', () => {
    const db = fresh();
    expect(planOf(db, ACCOUNT_PAGE_SQL.first, [10])).toBe(
      'SCAN accounts USING INDEX accounts_created',
    );
    const after = planOf(db, ACCOUNT_PAGE_SQL.after, ['acc_1', 10]);
    expect(after).toContain('SEARCH accounts USING INDEX accounts_created (created_at>?)');
    expect(after).not.toContain('TEMP B-TREE');
  });
});
