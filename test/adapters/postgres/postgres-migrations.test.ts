import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS, migratePostgres } from '../../../src/adapters/postgres/migrations.js';
import { createPgPool, type PgPool } from '../../../src/adapters/postgres/pg-pool.js';
import {
  ACCOUNT_PAGE_SQL,
  auditListSql,
} from '../../../src/adapters/postgres/postgres-control-store.js';
import type { AuditQuery } from '../../../src/ports.js';
import { POSTGRES_URL, adminQuery, dropSchema, randomSchema } from './postgres-harness.js';

const NOW_MS = 1_767_225_600_000;
const LATEST = POSTGRES_MIGRATIONS.map((migration) => migration.version);

describe('PostgreSQL migrations', () => {
  const pools: PgPool[] = [];
  const schemas: string[] = [];
  const open = (schema: string): PgPool => {
    const pool = createPgPool({ url: POSTGRES_URL, schema, maxConnections: 2 });
    pools.push(pool);
    return pool;
  };
  const fresh = (): string => {
    const schema = randomSchema();
    schemas.push(schema);
    return schema;
  };
  const versions = async (schema: string) =>
    (
      await adminQuery<{ version: number }>(
        `SELECT version FROM ${schema}.schema_migrations ORDER BY version`,
      )
    ).map((row) => row.version);

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.end()));
    await Promise.all(schemas.splice(0).map(dropSchema));
  });

  it('creates the schema and applies every migration once', async () => {
    const schema = fresh();
    expect(await migratePostgres(open(schema), schema, NOW_MS)).toEqual(LATEST);
    expect(await versions(schema)).toEqual(LATEST);
  });

  it('applies nothing the second time', async () => {
    const schema = fresh();
    await migratePostgres(open(schema), schema, NOW_MS);
    expect(await migratePostgres(open(schema), schema, NOW_MS)).toEqual([]);
  });

  it('applies each migration exactly once when several nodes start at once', async () => {
    const schema = fresh();
    const ran = await Promise.all(
      Array.from({ length: 5 }, () => migratePostgres(open(schema), schema, NOW_MS)),
    );
    expect(ran.flat().sort()).toEqual(LATEST);
    expect(await versions(schema)).toEqual(LATEST);
  });

  it('starts the audit head at the genesis hash', async () => {
    const schema = fresh();
    await migratePostgres(open(schema), schema, NOW_MS);
    expect(await adminQuery(`SELECT seq, hash FROM ${schema}.audit_head`)).toEqual([
      { seq: '0', hash: '0'.repeat(64) },
    ]);
  });

  it('rolls a failing migration back whole, version row included', async () => {
    const schema = fresh();
    const broken = [
      ...POSTGRES_MIGRATIONS,
      { version: 99, name: 'broken', sql: 'CREATE TABLE half_done (id int); SELECT 1/0;' },
    ];
    await expect(migratePostgres(open(schema), schema, NOW_MS, broken)).rejects.toThrow();
    expect(await versions(schema)).toEqual(LATEST);
    const tables = await adminQuery(
      `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'half_done'`,
      [schema],
    );
    expect(tables).toEqual([]);
  });

  it('upgrades a schema made by an earlier version, keeping its rows', async () => {
    const schema = fresh();
    const [first] = POSTGRES_MIGRATIONS;
    if (!first) throw new Error('no migrations');
    expect(await migratePostgres(open(schema), schema, NOW_MS, [first])).toEqual([1]);
    await adminQuery(`INSERT INTO ${schema}.meta (name, value) VALUES ('kept', 'yes')`);
    expect(await migratePostgres(open(schema), schema, NOW_MS)).toEqual(LATEST.slice(1));
    expect(await adminQuery(`SELECT value FROM ${schema}.meta`)).toEqual([{ value: 'yes' }]);
    expect(await adminQuery(`SELECT count(*)::int AS n FROM ${schema}.policies`)).toEqual([
      { n: 0 },
    ]);
  });

  it('reads the audit filters with their cursor as index ranges (migration 6)', async () => {
    const schema = fresh();
    const pool = open(schema);
    await migratePostgres(pool, schema, NOW_MS);
    // 20,000 entries: one in a thousand is a revocation, one in 997 is about a rarely seen key.
    await pool.query(
      `INSERT INTO audit_log (seq, ts, actor, action, target, request_id, data, prev_hash, hash, seal)
       SELECT i, i, 'adm_1', CASE WHEN i % 1000 = 0 THEN 'key.revoke' ELSE 'key.create' END,
              CASE WHEN i % 997 = 0 THEN 'key_rare' ELSE 'key_' || (i % 5) END,
              'req', '{}', 'p', 'h', 's'
       FROM generate_series(1, 20000) AS i`,
    );
    await pool.query('ANALYZE audit_log');
    const plan = async (query: AuditQuery) => {
      const { sql, values } = auditListSql(query);
      const result = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values);
      return result.rows.map((row) => row['QUERY PLAN']).join('\n');
    };
    // The filter and the cursor are both conditions of one index (plain or bitmap scan, as the
    // planner likes for the row count), not a filter over a walk of the primary key.
    const byAction = await plan({ action: 'key.revoke', afterSeq: 100, limit: 50 });
    expect(byAction).toMatch(
      /using audit_log_action .*\n.*Index Cond: \(\(action = .*\) AND \(seq > /,
    );
    const byTarget = await plan({ target: 'key_rare', afterSeq: 100, limit: 50 });
    expect(byTarget).toMatch(
      /on audit_log_target_seq .*\n.*Index Cond: \(\(target = .*\) AND \(seq > /,
    );
    const { sql, values } = auditListSql({ action: 'key.revoke', afterSeq: 2000, limit: 2 });
    const rows = await pool.query<{ seq: string }>(sql, values);
    expect(rows.rows.map((row) => Number(row.seq))).toEqual([3000, 4000]);
  });

  it('pages accounts along the (created_at, id) index, with no sort (migration 7)', async () => {
    const schema = fresh();
    const pool = open(schema);
    await migratePostgres(pool, schema, NOW_MS);
    await pool.query(
      `INSERT INTO accounts (id, name, created_at)
       SELECT 'acc_' || lpad(i::text, 6, '0'), 'desk', i / 3 FROM generate_series(1, 20000) AS i`,
    );
    await pool.query('ANALYZE accounts');
    const explain = async (sql: string, values: unknown[]) =>
      (await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values)).rows
        .map((row) => row['QUERY PLAN'])
        .join('\n');
    for (const plan of [
      await explain(ACCOUNT_PAGE_SQL.first, [100]),
      await explain(ACCOUNT_PAGE_SQL.after, ['acc_010000', 100]),
    ]) {
      expect(plan).toMatch(/Index Scan using accounts_created/);
      expect(plan).not.toMatch(/Sort/);
    }
  });

  it('keeps schemas apart: a migrated schema is invisible to another', async () => {
    const a = fresh();
    const b = fresh();
    await migratePostgres(open(a), a, NOW_MS);
    await migratePostgres(open(b), b, NOW_MS);
    await adminQuery(`INSERT INTO ${a}.meta (name, value) VALUES ('only', 'a')`);
    expect(await open(b).query('SELECT * FROM meta')).toMatchObject({ rows: [] });
  });
});
