/**
 * The behaviour every ControlStore adapter must have. Each adapter's test file calls
 * `describeControlStoreContract` with a factory that builds a fresh, empty store per test.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createAuditVerifier,
  type AuditDraft,
  type AuditEntry,
} from '../../src/core/audit/audit-chain.js';
import type { Account, ApiKey } from '../../src/core/keys/model.js';
import type {
  AdminToken,
  ControlStore,
  SealedSecret,
  StoredKey,
  StoredSecretVersion,
} from '../../src/ports.js';
import { countTurns } from '../helpers/event-loop-turns.js';

export interface ControlStoreHarness {
  readonly store: ControlStore;
  close(): Promise<void>;
}

const AUDIT_KEY = randomBytes(32);
const sealer = (hash: string) => createHmac('sha256', AUDIT_KEY).update(hash).digest('hex');
const T0 = 1_767_225_600_000;

const draft = (action: string, target: string, data: AuditDraft['data'] = {}): AuditDraft => ({
  ts: T0,
  actor: 'adm_contract',
  action,
  target,
  requestId: `req_${action}`,
  data,
});

const account = (id: string, createdAt = T0): Account => ({ id, name: `name ${id}`, createdAt });

function storedKey(id: string, accountId: string, overrides: Partial<ApiKey> = {}): StoredKey {
  return {
    key: {
      id,
      accountId,
      label: 'label',
      environment: id.startsWith('pk_live_') ? 'production' : 'sandbox',
      scheme: 'hmac',
      scopes: ['read', 'trade'],
      ipAllowlist: ['192.0.2.0/24'],
      hasPassphrase: false,
      status: 'active',
      createdAt: T0,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      epoch: 1,
      secretVersion: 1,
      ...overrides,
    },
    passphraseHash: null,
    publicKeyPem: null,
  };
}

const sealed = (kekId: string, fill: number): SealedSecret => ({
  ciphertext: Buffer.alloc(40, fill),
  iv: Buffer.alloc(12, fill),
  tag: Buffer.alloc(16, fill),
  wrappedDek: Buffer.alloc(32, fill),
  dekIv: Buffer.alloc(12, fill),
  dekTag: Buffer.alloc(16, fill),
  kekId,
});

const secret = (keyId: string, version: number, kekId = 'kek-a'): StoredSecretVersion => ({
  keyId,
  version,
  sealed: sealed(kekId, version),
  createdAt: T0 + version,
  notAfter: null,
});

const token = (id: string, hash: string): AdminToken => ({
  id,
  role: 'operator',
  label: 'ops',
  tokenHash: hash,
  createdAt: T0,
  expiresAt: T0 + 1000,
  revokedAt: null,
  createdBy: 'system',
});

export function describeControlStoreContract(
  name: string,
  createHarness: () => Promise<ControlStoreHarness>,
): void {
  describe(`ControlStore contract: ${name}`, () => {
    let harness: ControlStoreHarness;
    let store: ControlStore;
    beforeEach(async () => {
      harness = await createHarness();
      store = harness.store;
      store.setAuditSealer(sealer);
    });
    afterEach(async () => {
      await harness.close();
    });

    const allAudit = () => store.listAudit({ limit: 100_000 });
    async function withKey(id = 'pk_test_k1'): Promise<StoredKey> {
      await store.createAccount(account('acc_1'), draft('account.create', 'acc_1'));
      const stored = storedKey(id, 'acc_1');
      await store.createKey(stored, secret(id, 1), draft('key.create', id));
      return stored;
    }

    describe('accounts', () => {
      it('creates and reads an account', async () => {
        await store.createAccount(account('acc_1'), draft('account.create', 'acc_1'));
        expect(await store.getAccount('acc_1')).toEqual(account('acc_1'));
      });

      it('answers undefined for an unknown account', async () => {
        expect(await store.getAccount('acc_none')).toBeUndefined();
      });

      it('lists accounts in creation order', async () => {
        await store.createAccount(account('acc_b', T0), draft('account.create', 'acc_b'));
        await store.createAccount(account('acc_a', T0 + 1), draft('account.create', 'acc_a'));
        expect((await store.listAccounts({ limit: 10 })).map((a) => a.id)).toEqual([
          'acc_b',
          'acc_a',
        ]);
      });

      it('pages accounts by creation time, then id, from the cursor on', async () => {
        // Two created in the same millisecond: the id breaks the tie, so no page repeats or skips.
        for (const [id, at] of [
          ['acc_c', T0 + 5],
          ['acc_a', T0 + 9],
          ['acc_d', T0 + 5],
          ['acc_b', T0 + 1],
        ] as const) {
          await store.createAccount(account(id, at), draft('account.create', id));
        }
        const ids = async (page: { after?: string; limit: number }) =>
          (await store.listAccounts(page)).map((a) => a.id);
        expect(await ids({ limit: 2 })).toEqual(['acc_b', 'acc_c']);
        expect(await ids({ after: 'acc_c', limit: 2 })).toEqual(['acc_d', 'acc_a']);
        expect(await ids({ after: 'acc_a', limit: 2 })).toEqual([]);
        expect(await ids({ after: 'acc_none', limit: 2 })).toEqual([]);
      });

      it('writes the audit entry with the account', async () => {
        await store.createAccount(account('acc_1'), draft('account.create', 'acc_1'));
        expect((await allAudit()).map((e) => [e.action, e.target])).toEqual([
          ['account.create', 'acc_1'],
        ]);
      });

      it('writes neither account nor entry when the account id exists', async () => {
        await store.createAccount(account('acc_1'), draft('account.create', 'acc_1'));
        await expect(
          store.createAccount(account('acc_1'), draft('account.create', 'acc_1')),
        ).rejects.toThrow();
        expect(await allAudit()).toHaveLength(1);
      });
    });

    describe('keys', () => {
      it('creates and reads a key with all its fields', async () => {
        const stored = await withKey();
        expect(await store.getKey(stored.key.id)).toEqual(stored);
      });

      it('answers undefined for an unknown key', async () => {
        expect(await store.getKey('pk_test_none')).toBeUndefined();
      });

      it('refuses a key for an unknown account and writes no audit entry', async () => {
        await expect(
          store.createKey(storedKey('pk_test_x', 'acc_none'), null, draft('key.create', 'x')),
        ).rejects.toThrow();
        expect(await allAudit()).toHaveLength(0);
        expect(await store.getKey('pk_test_x')).toBeUndefined();
      });

      it('lists keys by id with account, environment and cursor filters', async () => {
        await store.createAccount(account('acc_1'), draft('account.create', 'acc_1'));
        await store.createAccount(account('acc_2'), draft('account.create', 'acc_2'));
        for (const [id, acc] of [
          ['pk_test_c', 'acc_1'],
          ['pk_test_a', 'acc_2'],
          ['pk_live_b', 'acc_1'],
        ] as const) {
          await store.createKey(storedKey(id, acc), null, draft('key.create', id));
        }
        const ids = async (filter: Parameters<ControlStore['listKeys']>[0]) =>
          (await store.listKeys(filter)).map((s) => s.key.id);
        expect(await ids({ limit: 10 })).toEqual(['pk_live_b', 'pk_test_a', 'pk_test_c']);
        expect(await ids({ limit: 10, accountId: 'acc_1' })).toEqual(['pk_live_b', 'pk_test_c']);
        expect(await ids({ limit: 10, environment: 'sandbox' })).toEqual([
          'pk_test_a',
          'pk_test_c',
        ]);
        expect(await ids({ limit: 1, after: 'pk_live_b' })).toEqual(['pk_test_a']);
      });

      it('applies an update at the expected epoch with its audit entry', async () => {
        const stored = await withKey();
        const next = { ...stored, key: { ...stored.key, scopes: ['read'] as const, epoch: 2 } };
        expect(
          await store.updateKey({ stored: next, expectedEpoch: 1 }, draft('key.update', 'k')),
        ).toBe(true);
        expect((await store.getKey(stored.key.id))?.key).toMatchObject({
          scopes: ['read'],
          epoch: 2,
        });
        expect((await allAudit()).map((e) => e.action)).toContain('key.update');
      });

      it('refuses an update at a stale epoch and writes nothing, not even the audit entry', async () => {
        const stored = await withKey();
        const before = await allAudit();
        const next = { ...stored, key: { ...stored.key, label: 'lost', epoch: 8 } };
        const written = await store.updateKey(
          {
            stored: next,
            expectedEpoch: 7,
            newSecret: secret(stored.key.id, 2),
            retireOthersAt: T0,
          },
          draft('key.update', stored.key.id),
        );
        expect(written).toBe(false);
        expect(await store.getKey(stored.key.id)).toEqual(stored);
        expect(await store.getSecrets(stored.key.id)).toHaveLength(1);
        expect(await allAudit()).toEqual(before);
      });

      it('records last use without an audit entry and never moves it backwards', async () => {
        const stored = await withKey();
        const entries = (await allAudit()).length;
        await store.recordKeyUse([{ keyId: stored.key.id, at: T0 + 50 }]);
        await store.recordKeyUse([{ keyId: stored.key.id, at: T0 + 10 }]);
        expect((await store.getKey(stored.key.id))?.key.lastUsedAt).toBe(T0 + 50);
        expect(await allAudit()).toHaveLength(entries);
      });
    });

    describe('secret versions', () => {
      it('stores the sealed secret byte for byte', async () => {
        const stored = await withKey();
        expect(await store.getSecrets(stored.key.id)).toEqual([secret(stored.key.id, 1)]);
      });

      it('adds a version and retires earlier live ones in the same update, newest first', async () => {
        const stored = await withKey();
        const next = { ...stored, key: { ...stored.key, epoch: 2, secretVersion: 2 } };
        await store.updateKey(
          {
            stored: next,
            expectedEpoch: 1,
            newSecret: secret(stored.key.id, 2),
            retireOthersAt: T0 + 99,
          },
          draft('key.rotate', stored.key.id),
        );
        const versions = await store.getSecrets(stored.key.id);
        expect(versions.map((v) => [v.version, v.notAfter])).toEqual([
          [2, null],
          [1, T0 + 99],
        ]);
      });

      it('never extends a version already retired earlier', async () => {
        const stored = await withKey();
        const rotate = async (epoch: number, version: number, retireAt: number) =>
          store.updateKey(
            {
              stored: {
                ...stored,
                key: { ...stored.key, epoch: epoch + 1, secretVersion: version },
              },
              expectedEpoch: epoch,
              newSecret: secret(stored.key.id, version),
              retireOthersAt: retireAt,
            },
            draft('key.rotate', stored.key.id),
          );
        await rotate(1, 2, T0 + 10);
        await rotate(2, 3, T0 + 1000);
        const v1 = (await store.getSecrets(stored.key.id)).find((v) => v.version === 1);
        expect(v1?.notAfter).toBe(T0 + 10);
      });
    });

    describe('admin tokens', () => {
      it('finds a token by its hash', async () => {
        await store.createAdminToken(token('adm_1', 'h1'), draft('admin-token.create', 'adm_1'));
        expect(await store.findAdminTokenByHash('h1')).toEqual(token('adm_1', 'h1'));
        expect(await store.findAdminTokenByHash('h2')).toBeUndefined();
      });

      it('counts and lists tokens', async () => {
        expect(await store.countAdminTokens()).toBe(0);
        await store.createAdminToken(token('adm_1', 'h1'), draft('admin-token.create', 'adm_1'));
        await store.createAdminToken(token('adm_2', 'h2'), draft('admin-token.create', 'adm_2'));
        expect(await store.countAdminTokens()).toBe(2);
        expect((await store.listAdminTokens()).map((t) => t.id)).toEqual(['adm_1', 'adm_2']);
      });

      it('refuses a duplicate token hash and writes no audit entry', async () => {
        await store.createAdminToken(token('adm_1', 'h1'), draft('admin-token.create', 'adm_1'));
        await expect(
          store.createAdminToken(token('adm_2', 'h1'), draft('admin-token.create', 'adm_2')),
        ).rejects.toThrow();
        expect(await allAudit()).toHaveLength(1);
      });
    });

    describe('audit log', () => {
      it('numbers entries from 1 and chains them', async () => {
        const a = await store.appendAudit(draft('x.one', 't'));
        const b = await store.appendAudit(draft('x.two', 't'));
        expect([a.seq, b.seq]).toEqual([1, 2]);
        expect(b.prevHash).toBe(a.hash);
        expect(a.seal).toBe(sealer(a.hash));
      });

      it('returns entries as appended, data included', async () => {
        const entry = await store.appendAudit(draft('x.one', 't', { after: { n: [1, 'a'] } }));
        expect(await allAudit()).toEqual([entry]);
      });

      it('filters the list by seq, action and target', async () => {
        await store.appendAudit(draft('a', 't1'));
        await store.appendAudit(draft('b', 't2'));
        await store.appendAudit(draft('a', 't2'));
        const seqs = async (q: Parameters<ControlStore['listAudit']>[0]) =>
          (await store.listAudit(q)).map((e) => e.seq);
        expect(await seqs({ limit: 10, afterSeq: 1 })).toEqual([2, 3]);
        expect(await seqs({ limit: 10, action: 'a' })).toEqual([1, 3]);
        expect(await seqs({ limit: 10, target: 't2' })).toEqual([2, 3]);
        expect(await seqs({ limit: 1 })).toEqual([1]);
      });

      it('scans the whole chain in order across batches, yielding between them, and it verifies', async () => {
        for (let i = 0; i < 2_050; i++) await store.appendAudit(draft('bulk', `t${i}`));
        const seen: AuditEntry[] = [];
        // Event-loop turns counted while the scan runs: every batch after the first must come
        // a turn later than the one before, or a long chain would hold every data plane.
        const turns = countTurns();
        const turnAtBatch: number[] = [];
        await store.scanAudit((entries) => {
          turnAtBatch.push(turns.count());
          seen.push(...entries);
        });
        turns.stop();
        expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: 2_050 }, (_, i) => i + 1));
        expect(turnAtBatch.length).toBeGreaterThan(2);
        for (let i = 1; i < turnAtBatch.length; i++) {
          expect(turnAtBatch[i]).toBeGreaterThan(turnAtBatch[i - 1] ?? Infinity);
        }
        const verifier = createAuditVerifier(sealer);
        for (const entry of seen) verifier.push(entry);
        expect(verifier.result()).toMatchObject({ ok: true, entries: 2_050 });
      });

      it('keeps one unbroken chain under concurrent appends', async () => {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.appendAudit(draft('c', `t${i}`))),
        );
        const verifier = createAuditVerifier(sealer);
        for (const entry of await allAudit()) verifier.push(entry);
        expect(verifier.result()).toMatchObject({ ok: true, entries: 50 });
      });
    });

    describe('meta and sealed records', () => {
      it('stores, reads and overwrites meta values', async () => {
        expect(await store.getMeta('m')).toBeUndefined();
        await store.setMeta('m', 'one');
        await store.setMeta('m', 'two');
        expect(await store.getMeta('m')).toBe('two');
      });

      it('lists the distinct master-key ids in use', async () => {
        await withKey();
        await store.createKey(
          storedKey('pk_test_k2', 'acc_1'),
          secret('pk_test_k2', 1, 'kek-b'),
          draft('key.create', 'k2'),
        );
        expect((await store.listKekIds()).sort()).toEqual(['kek-a', 'kek-b']);
      });

      it('lists records not under a key, bounded, and replaces their envelope', async () => {
        const stored = await withKey();
        await store.createKey(
          storedKey('pk_test_k2', 'acc_1'),
          secret('pk_test_k2', 1, 'kek-b'),
          draft('key.create', 'k2'),
        );
        expect(await store.listSealedNotUnder('kek-b', 10)).toEqual([secret(stored.key.id, 1)]);
        expect(await store.listSealedNotUnder('kek-c', 1)).toHaveLength(1);
        await store.replaceSealed([]);
        await store.replaceSealed([
          { keyId: stored.key.id, version: 1, sealed: sealed('kek-b', 9) },
        ]);
        expect(await store.listSealedNotUnder('kek-b', 10)).toEqual([]);
        expect((await store.getSecrets(stored.key.id))[0]?.sealed).toEqual(sealed('kek-b', 9));
        expect(await store.listKekIds()).toEqual(['kek-b']);
      });

      it('replaces a batch of envelopes all together or not at all', async () => {
        const stored = await withKey();
        await store.createKey(
          storedKey('pk_test_k2', 'acc_1'),
          secret('pk_test_k2', 1),
          draft('key.create', 'k2'),
        );
        const broken = { ...sealed('kek-b', 7), kekId: null as unknown as string };
        await expect(
          store.replaceSealed([
            { keyId: stored.key.id, version: 1, sealed: sealed('kek-b', 7) },
            { keyId: 'pk_test_k2', version: 1, sealed: broken },
          ]),
        ).rejects.toThrow();
        expect(await store.listKekIds()).toEqual(['kek-a']);
        await store.replaceSealed([
          { keyId: stored.key.id, version: 1, sealed: sealed('kek-b', 7) },
          { keyId: 'pk_test_k2', version: 1, sealed: sealed('kek-b', 8) },
        ]);
        expect(await store.listSealedNotUnder('kek-b', 10)).toEqual([]);
        expect((await store.getSecrets('pk_test_k2'))[0]?.sealed).toEqual(sealed('kek-b', 8));
      });
    });
  });
}
