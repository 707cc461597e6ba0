import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS, migratePostgres } from '../../../src/adapters/postgres/migrations.js';
import { createPgPool, type PgPool } from '../../../src/adapters/postgres/pg-pool.js';
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

  it('keeps schemas apart: a migrated schema is invisible to another', async () => {
    const a = fresh();
    const b = fresh();
    await migratePostgres(open(a), a, NOW_MS);
    await migratePostgres(open(b), b, NOW_MS);
    await adminQuery(`INSERT INTO ${a}.meta (name, value) VALUES ('only', 'a')`);
    expect(await open(b).query('SELECT * FROM meta')).toMatchObject({ rows: [] });
  });
});
