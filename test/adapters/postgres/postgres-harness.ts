/**
 * Test access to the real PostgreSQL at 127.0.0.1:5432 (POSTGRES_URL overrides). Every store a
 * test makes lives in its own random schema, dropped when the test closes it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  createPostgresControlStore,
  type PostgresControlStore,
  type PostgresStoreOptions,
} from '../../../src/adapters/postgres/postgres-control-store.js';
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
  readonly store: PostgresControlStore;
  readonly schema: string;
  /** Another store (its own pool, as another node would have) on the same schema. */
  openPeer(): Promise<PostgresControlStore>;
  close(): Promise<void>;
}

/** A migrated store in a new schema; `close` ends its pool (and its peers') and drops the schema. */
export async function createPostgresHarness(
  overrides: Partial<PostgresStoreOptions> = {},
): Promise<PostgresHarness> {
  const schema = overrides.schema ?? randomSchema();
  const open = () =>
    createPostgresControlStore({
      url: POSTGRES_URL,
      clock: createManualClock(),
      maxConnections: 4,
      ...overrides,
      schema,
    });
  const store = await open();
  const peers: PostgresControlStore[] = [];
  return {
    store,
    schema,
    async openPeer() {
      const peer = await open();
      peers.push(peer);
      return peer;
    },
    close: async () => {
      await Promise.all([store, ...peers].map((each) => each.close()));
      await dropSchema(schema);
    },
  };
}
