/**
 * Tampering done directly in the SQLite file while the store is closed, as someone with write
 * access to the disk would: the audit chain must name the first bad entry, and swapped secret
 * envelopes must refuse to decrypt.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRow } from '../../../src/adapters/sqlite/rows.js';
import { hashAuditEntry } from '../../../src/core/audit/audit-chain.js';
import { PortcullisError } from '../../../src/core/errors.js';
import {
  TEST_CTX,
  createTestControlPlane,
  type TestControlPlane,
} from '../../helpers/control-plane.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const open: TestControlPlane[] = [];
const dirs: (() => void)[] = [];
afterEach(async () => {
  for (const plane of open.splice(0)) await plane.close({ keepDir: true });
  for (const remove of dirs.splice(0)) remove();
});

interface Fixture {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly auditorToken: string;
  readonly keyIds: string[];
  readonly entries: number;
}

/** A store with a handful of audited changes, closed so that the file can be edited. */
async function closedFixture(): Promise<Fixture> {
  const dir = createTempDir();
  dirs.push(() => dir.remove());
  const plane = await createTestControlPlane({ dataDir: dir.path });
  const auditorToken = await plane.tokenFor('auditor');
  const account = await plane.keys.createAccount('desk', TEST_CTX);
  const keyIds: string[] = [];
  for (let i = 0; i < 2; i++) {
    const { key } = await plane.keys.createKey(
      { accountId: account.id, environment: 'sandbox', scheme: 'hmac', scopes: ['read'] },
      TEST_CTX,
    );
    keyIds.push(key.id);
  }
  await plane.keys.updateKey(keyIds[0] ?? '', { scopes: ['read', 'trade'] }, TEST_CTX);
  await plane.keys.rotateKey(keyIds[1] ?? '', 0, TEST_CTX);
  await plane.keys.revokeKey(keyIds[0] ?? '', TEST_CTX);
  const entries = (await plane.store.listAudit({ limit: 1000 })).length;
  await plane.close({ keepDir: true });
  return { dataDir: dir.path, dbPath: plane.dbPath, auditorToken, keyIds, entries };
}

function editDb(fixture: Fixture, edit: (db: Database) => void): void {
  const db = new BetterSqlite3(fixture.dbPath);
  try {
    edit(db);
  } finally {
    db.close();
  }
}

async function reopen(fixture: Fixture): Promise<TestControlPlane> {
  const plane = await createTestControlPlane({ dataDir: fixture.dataDir });
  open.push(plane);
  return plane;
}

/** GET /v1/audit/verify through the admin API of a reopened store. */
async function verifyThroughApi(fixture: Fixture): Promise<Record<string, unknown>> {
  const plane = await reopen(fixture);
  const response = await plane.app.inject({
    method: 'GET',
    url: '/v1/audit/verify',
    headers: { authorization: `Bearer ${fixture.auditorToken}` },
  });
  expect(response.statusCode).toBe(200);
  return response.json();
}

const row = (db: Database, seq: number): AuditRow =>
  db.prepare('SELECT * FROM audit_log WHERE seq = ?').get(seq) as AuditRow;

describe('audit verification after tampering in the SQLite file', () => {
  it('reports an untouched chain as intact', async () => {
    const fixture = await closedFixture();
    expect(await verifyThroughApi(fixture)).toMatchObject({
      ok: true,
      entries: fixture.entries,
      headSeq: fixture.entries,
    });
  });

  it('names an entry whose data was UPDATEd (HASH_MISMATCH)', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) =>
      db.prepare(`UPDATE audit_log SET data = ? WHERE seq = 4`).run('{"after":{"scopes":[]}}'),
    );
    expect(await verifyThroughApi(fixture)).toMatchObject({
      ok: false,
      firstBadSeq: 4,
      problem: 'HASH_MISMATCH',
    });
  });

  it('names an entry whose actor was UPDATEd and hash recomputed (SEAL_MISMATCH)', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) => {
      const r = row(db, 3);
      const data = JSON.parse(r.data) as Record<string, never>;
      const hash = hashAuditEntry({
        seq: r.seq,
        ts: r.ts,
        actor: 'adm_innocent',
        action: r.action,
        target: r.target,
        requestId: r.request_id,
        data,
        prevHash: r.prev_hash,
      });
      db.prepare('UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 3').run(
        'adm_innocent',
        hash,
      );
    });
    expect(await verifyThroughApi(fixture)).toMatchObject({ ok: false, firstBadSeq: 3 });
  });

  it('names an entry whose data was edited into invalid JSON (HASH_MISMATCH)', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) => db.prepare(`UPDATE audit_log SET data = '{"x":' WHERE seq = 2`).run());
    expect(await verifyThroughApi(fixture)).toMatchObject({
      ok: false,
      firstBadSeq: 2,
      problem: 'HASH_MISMATCH',
    });
  });

  it('names a DELETEd entry', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) => db.prepare('DELETE FROM audit_log WHERE seq = 5').run());
    expect(await verifyThroughApi(fixture)).toMatchObject({ ok: false, firstBadSeq: 5 });
  });

  it('names an INSERTed entry appended without the audit key (SEAL_MISMATCH)', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) => {
      const head = row(db, fixture.entries);
      const forged = {
        seq: head.seq + 1,
        ts: head.ts + 1,
        actor: 'adm_innocent',
        action: 'key.create',
        target: 'pk_test_forged',
        requestId: 'req_forged',
        data: {},
        prevHash: head.hash,
      };
      db.prepare(
        `INSERT INTO audit_log (seq, ts, actor, action, target, request_id, data, prev_hash, hash, seal)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        forged.seq,
        forged.ts,
        forged.actor,
        forged.action,
        forged.target,
        forged.requestId,
        '{}',
        forged.prevHash,
        hashAuditEntry(forged),
        'f'.repeat(64),
      );
    });
    expect(await verifyThroughApi(fixture)).toMatchObject({
      ok: false,
      firstBadSeq: fixture.entries + 1,
      problem: 'SEAL_MISMATCH',
    });
  });

  it('names an entry INSERTed in the middle with later entries renumbered', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) => {
      db.transaction(() => {
        // Shift seq >= 3 up by one (via a detour to avoid primary-key clashes), then fill 3.
        db.prepare('UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= 3').run();
        db.prepare('UPDATE audit_log SET seq = seq - 999999 WHERE seq >= 1000000').run();
        const copy = row(db, 2);
        db.prepare(
          `INSERT INTO audit_log (seq, ts, actor, action, target, request_id, data, prev_hash, hash, seal)
           VALUES (3, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          copy.ts,
          copy.actor,
          copy.action,
          copy.target,
          copy.request_id,
          copy.data,
          copy.hash,
          copy.hash,
          copy.seal,
        );
      })();
    });
    expect(await verifyThroughApi(fixture)).toMatchObject({ ok: false, firstBadSeq: 3 });
  });

  it('names the first of two entries whose contents were swapped (reordered)', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) => {
      const [a, b] = [row(db, 3), row(db, 4)];
      const put = db.prepare(
        `UPDATE audit_log SET ts = @ts, actor = @actor, action = @action, target = @target,
         request_id = @request_id, data = @data, prev_hash = @prev_hash, hash = @hash, seal = @seal
         WHERE seq = @at`,
      );
      db.transaction(() => {
        put.run({ ...b, at: 3 });
        put.run({ ...a, at: 4 });
      })();
    });
    expect(await verifyThroughApi(fixture)).toMatchObject({
      ok: false,
      firstBadSeq: 3,
      problem: 'PREV_HASH_MISMATCH',
    });
  });

  it('keeps naming the tampered entry after new entries are appended', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) => db.prepare(`UPDATE audit_log SET target = 'x' WHERE seq = 2`).run());
    const plane = await reopen(fixture);
    await plane.keys.createAccount('after the fact', TEST_CTX);
    expect(await plane.audit.verify()).toMatchObject({ ok: false, firstBadSeq: 2 });
  });
});

describe('secret envelopes swapped in the SQLite file', () => {
  /** The version that currently verifies (the fixture rotated one key with grace 0). */
  const CURRENT = '(SELECT secret_version FROM api_keys WHERE id = @id)';

  async function loadCode(plane: TestControlPlane, keyId: string): Promise<string> {
    try {
      await plane.keys.loadVerificationMaterial(keyId);
      return 'NO_ERROR';
    } catch (error) {
      return error instanceof PortcullisError ? error.code : 'OTHER';
    }
  }

  it('loads intact secrets', async () => {
    const fixture = await closedFixture();
    const plane = await reopen(fixture);
    expect(await loadCode(plane, fixture.keyIds[0] ?? '')).toBe('NO_ERROR');
  });

  it('refuses a ciphertext swapped between two keys (MASTER_KEY_MISMATCH)', async () => {
    const fixture = await closedFixture();
    const [a, b] = fixture.keyIds as [string, string];
    editDb(fixture, (db) => {
      const get = db.prepare(
        `SELECT ciphertext, iv, tag FROM key_secrets WHERE key_id = @id AND version = ${CURRENT}`,
      );
      const [sa, sb] = [get.get({ id: a }), get.get({ id: b })] as Record<string, Buffer>[];
      const put = db.prepare(
        `UPDATE key_secrets SET ciphertext = @ciphertext, iv = @iv, tag = @tag WHERE key_id = @id AND version = ${CURRENT}`,
      );
      put.run({ ...sb, id: a });
      put.run({ ...sa, id: b });
    });
    const plane = await reopen(fixture);
    expect([await loadCode(plane, a), await loadCode(plane, b)]).toEqual([
      'MASTER_KEY_MISMATCH',
      'MASTER_KEY_MISMATCH',
    ]);
  });

  it('refuses a whole sealed envelope swapped between two keys (MASTER_KEY_MISMATCH)', async () => {
    const fixture = await closedFixture();
    const [a, b] = fixture.keyIds as [string, string];
    editDb(fixture, (db) => {
      const cols = 'ciphertext, iv, tag, wrapped_dek, dek_iv, dek_tag, kek_id';
      const get = db.prepare(
        `SELECT ${cols} FROM key_secrets WHERE key_id = @id AND version = ${CURRENT}`,
      );
      const [sa, sb] = [get.get({ id: a }), get.get({ id: b })] as Record<string, unknown>[];
      const put = db.prepare(
        `UPDATE key_secrets SET ciphertext = @ciphertext, iv = @iv, tag = @tag, wrapped_dek = @wrapped_dek,
         dek_iv = @dek_iv, dek_tag = @dek_tag, kek_id = @kek_id
         WHERE key_id = @id AND version = ${CURRENT}`,
      );
      put.run({ ...sb, id: a });
      put.run({ ...sa, id: b });
    });
    const plane = await reopen(fixture);
    expect(await loadCode(plane, a)).toBe('MASTER_KEY_MISMATCH');
  });

  it('refuses an envelope naming a master key that is not configured, at start-up', async () => {
    const fixture = await closedFixture();
    editDb(fixture, (db) =>
      db.prepare(`UPDATE key_secrets SET kek_id = '0123456789abcdef' WHERE version = 1`).run(),
    );
    let code = 'NO_ERROR';
    try {
      await reopen(fixture);
    } catch (error) {
      code = error instanceof PortcullisError ? error.code : 'OTHER';
    }
    expect(code).toBe('MASTER_KEY_MISMATCH');
  });
});
