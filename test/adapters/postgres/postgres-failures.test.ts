/** What a caller sees when PostgreSQL is unreachable, stuck, or refuses a write. */
import { createHmac } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresControlStore } from '../../../src/adapters/postgres/postgres-control-store.js';
import { createPgPool, toStoreError } from '../../../src/adapters/postgres/pg-pool.js';
import type { AuditDraft } from '../../../src/core/audit/audit-chain.js';
import { createManualClock } from '../../helpers/manual-clock.js';
import {
  POSTGRES_URL,
  adminQuery,
  createPostgresHarness,
  randomSchema,
  type PostgresHarness,
} from './postgres-harness.js';

const sealer = (hash: string) => createHmac('sha256', 'k').update(hash).digest('hex');
const draft: AuditDraft = {
  ts: 1,
  actor: 'system',
  action: 'x',
  target: 't',
  requestId: 'req_1',
  data: {},
};

describe('PostgreSQL store failures', () => {
  const harnesses: PostgresHarness[] = [];
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
  });

  it(
    'rejects start-up with STORE_UNAVAILABLE when nothing listens',
    { timeout: 5000 },
    async () => {
      await expect(
        createPostgresControlStore({
          url: 'postgres://postgres@127.0.0.1:1/test',
          clock: createManualClock(),
          connectTimeoutMs: 500,
        }),
      ).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    },
  );

  it('rejects start-up with CONFIG_INVALID for a schema that is not a plain identifier', async () => {
    await expect(
      createPostgresControlStore({
        url: POSTGRES_URL,
        clock: createManualClock(),
        schema: 'x; DROP TABLE y',
      }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it(
    'answers STORE_UNAVAILABLE instead of waiting on a lock held elsewhere',
    { timeout: 5000 },
    async () => {
      const harness = await createPostgresHarness({ statementTimeoutMs: 300 });
      harnesses.push(harness);
      harness.store.setAuditSealer(sealer);
      const blocker = new pg.Client({ connectionString: POSTGRES_URL });
      await blocker.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(`LOCK TABLE ${harness.schema}.audit_head IN ACCESS EXCLUSIVE MODE`);
        await expect(harness.store.appendAudit(draft)).rejects.toMatchObject({
          code: 'STORE_UNAVAILABLE',
        });
      } finally {
        await blocker.query('ROLLBACK');
        await blocker.end();
      }
    },
  );

  it('serves again once the lock is gone, the chain unbroken', async () => {
    const harness = await createPostgresHarness({ statementTimeoutMs: 300 });
    harnesses.push(harness);
    harness.store.setAuditSealer(sealer);
    const blocker = new pg.Client({ connectionString: POSTGRES_URL });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${harness.schema}.audit_head IN ACCESS EXCLUSIVE MODE`);
    await expect(harness.store.appendAudit(draft)).rejects.toThrow();
    await blocker.query('ROLLBACK');
    await blocker.end();
    expect((await harness.store.appendAudit(draft)).seq).toBe(1);
  });

  it('reconnects by itself after the server drops every connection of the node', async () => {
    const applicationName = `portcullis_${randomSchema()}`;
    let dropped: () => void = () => undefined;
    const idleErrorSeen = new Promise<void>((resolve) => {
      dropped = resolve;
    });
    const harness = await createPostgresHarness({ applicationName, onIdleError: () => dropped() });
    harnesses.push(harness);
    harness.store.setAuditSealer(sealer);
    await harness.store.appendAudit(draft);
    await adminQuery(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    await idleErrorSeen;
    expect((await harness.store.appendAudit(draft)).seq).toBe(2);
  });

  it('survives a connection that dies inside a transaction between two statements', async () => {
    // No query is running when the server ends the connection, so the driver emits 'error' on
    // the checked-out client; unhandled, that would end the process (vitest reports it).
    const errors: Error[] = [];
    let died: () => void = () => undefined;
    const dead = new Promise<void>((resolve) => (died = resolve));
    const pool = createPgPool({
      url: POSTGRES_URL,
      schema: 'public',
      onIdleError: (error) => {
        errors.push(error);
        died();
      },
    });
    try {
      const client = await pool.connect();
      await client.query('BEGIN');
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      await dead;
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release();
      // The dead connection was dropped, not pooled: the pool still answers.
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // pg reports the server's FATAL message and, if the socket's end arrives before the
      // release, "Connection terminated unexpectedly" too: one or two reports, never a crash.
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors.length).toBeLessThanOrEqual(2);
    } finally {
      await pool.end();
    }
  });

  it('answers STORE_UNAVAILABLE after the store is closed', async () => {
    const harness = await createPostgresHarness();
    harnesses.push(harness);
    await harness.store.close();
    await expect(harness.store.getAccount('acc_1')).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
  });

  it('reports a duplicate as CONFLICT without quoting the stored value', async () => {
    const harness = await createPostgresHarness();
    harnesses.push(harness);
    harness.store.setAuditSealer(sealer);
    const token = {
      id: 'adm_1',
      role: 'operator',
      label: 'ops',
      tokenHash: 'f'.repeat(64),
      createdAt: 1,
      expiresAt: null,
      revokedAt: null,
      createdBy: 'system',
    } as const;
    await harness.store.createAdminToken(token, draft);
    const error: unknown = await harness.store
      .createAdminToken({ ...token, id: 'adm_2' }, draft)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'CONFLICT' });
    expect(JSON.stringify(error) + String(error)).not.toContain(token.tokenHash);
  });

  it.each([
    ['ECONNREFUSED', 'STORE_UNAVAILABLE'],
    ['57P01', 'STORE_UNAVAILABLE'],
    ['08006', 'STORE_UNAVAILABLE'],
    ['57014', 'STORE_UNAVAILABLE'],
    ['23505', 'CONFLICT'],
  ])('maps driver code %s to %s', (code, expected) => {
    expect(toStoreError(Object.assign(new Error('x'), { code }))).toMatchObject({
      code: expected,
    });
  });

  it('keeps the SQLSTATE but drops the message of any other database error', () => {
    const mapped = toStoreError(Object.assign(new Error('value "secret" bad'), { code: '22P02' }));
    expect(mapped).toMatchObject({ code: '22P02' });
    expect(mapped.message).not.toContain('secret');
  });

  it('treats the driver connect timeout as unavailable', () => {
    expect(toStoreError(new Error('timeout exceeded when trying to connect'))).toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
  });
});
