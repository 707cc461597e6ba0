/**
 * Test access to the real PostgreSQL at 127.0.0.1:5432 (POSTGRES_URL overrides). Every store a
 * test makes lives in its own random schema, dropped when the test closes it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  createPostgresControlStore,
  type PostgresStoreOptions,
} from '../../../src/adapters/postgres/postgres-control-store.js';
import type { ControlStore } from '../../../src/ports.js';
import { createManualClock } from '../../helpers/manual-clock.js';

export const POSTGRES_URL =
  process.env['POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name: lower-case, unique per call. */
export function randomSchema(): string {
  return `t_${randomBytes(8).toString('hex')}`;
}

/** Runs one statement on a short-lived connection of its own (test set-up and tear-down). */
export async function adminQuery<Row = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
): Promise<Row[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Row[];
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

export interface PostgresHarness {
  readonly store: ControlStore;
  readonly schema: string;
  close(): Promise<void>;
}

/** A migrated store in a new schema; `close` ends its pool and drops the schema. */
export async function createPostgresHarness(
  overrides: Partial<PostgresStoreOptions> = {},
): Promise<PostgresHarness> {
  const schema = overrides.schema ?? randomSchema();
  const store = await createPostgresControlStore({
    url: POSTGRES_URL,
    clock: createManualClock(),
    maxConnections: 4,
    ...overrides,
    schema,
  });
  return {
    store,
    schema,
    close: async () => {
      await store.close();
      await dropSchema(schema);
    },
  };
}
