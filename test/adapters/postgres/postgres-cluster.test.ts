/**
 * Several gateway nodes on one PostgreSQL: each store below has its own pool (its own sessions),
 * as separate processes would. The audit chain must stay one chain and key epochs must not fork.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresControlStore } from '../../../src/adapters/postgres/postgres-control-store.js';
import {
  createAuditVerifier,
  type AuditDraft,
  type AuditEntry,
} from '../../../src/core/audit/audit-chain.js';
import type { ControlStore, StoredKey } from '../../../src/ports.js';
import { createManualClock } from '../../helpers/manual-clock.js';
import { POSTGRES_URL, dropSchema, randomSchema } from './postgres-harness.js';

const AUDIT_KEY = randomBytes(32);
const sealer = (hash: string) => createHmac('sha256', AUDIT_KEY).update(hash).digest('hex');
const T0 = 1_767_225_600_000;
const NODES = 3;

const draft = (action: string, target: string): AuditDraft => ({
  ts: T0,
  actor: 'adm_cluster',
  action,
  target,
  requestId: `req_${target}`,
  data: { target },
});

const stored = (id: string, epoch = 1): StoredKey => ({
  key: {
    id,
    accountId: 'acc_1',
    label: 'label',
    environment: 'sandbox',
    scheme: 'hmac',
    scopes: ['read'],
    ipAllowlist: [],
    hasPassphrase: false,
    status: 'active',
    createdAt: T0,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    epoch,
    secretVersion: 1,
  },
  passphraseHash: null,
  publicKeyPem: null,
});

async function wholeChain(store: ControlStore): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  await store.scanAudit((batch) => entries.push(...batch));
  return entries;
}

describe('PostgreSQL control store shared by several nodes', () => {
  let schema: string;
  let nodes: ControlStore[];

  beforeEach(async () => {
    schema = randomSchema();
    // Started together: the migrations also run concurrently here.
    nodes = await Promise.all(
      Array.from({ length: NODES }, () =>
        createPostgresControlStore({
          url: POSTGRES_URL,
          clock: createManualClock(),
          schema,
          maxConnections: 4,
        }),
      ),
    );
    for (const node of nodes) node.setAuditSealer(sealer);
  });

  afterEach(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await dropSchema(schema);
  });

  const node = (i: number): ControlStore => {
    const store = nodes[i % nodes.length];
    if (!store) throw new Error('no node');
    return store;
  };

  it('keeps one gap-free verifiable chain under concurrent appends from every node', async () => {
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => node(i).appendAudit(draft('x.append', `t${i}`))),
    );
    const chain = await wholeChain(node(0));
    const verifier = createAuditVerifier(sealer);
    for (const entry of chain) verifier.push(entry);
    expect(verifier.result()).toMatchObject({ ok: true, entries: 60, headSeq: 60 });
  });

  it('chains entries of mixed changes (accounts, keys, tokens) from every node', async () => {
    await node(0).createAccount({ id: 'acc_1', name: 'one', createdAt: T0 }, draft('a', 'acc_1'));
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) =>
        node(i).createKey(stored(`pk_test_${i}`), null, draft('key.create', `pk_test_${i}`)),
      ),
      ...Array.from({ length: 10 }, (_, i) =>
        node(i + 1).createAdminToken(
          {
            id: `adm_${i}`,
            role: 'operator',
            label: 'ops',
            tokenHash: `hash_${i}`,
            createdAt: T0,
            expiresAt: null,
            revokedAt: null,
            createdBy: 'system',
          },
          draft('token.create', `adm_${i}`),
        ),
      ),
      ...Array.from({ length: 10 }, (_, i) => node(i + 2).appendAudit(draft('x', `x${i}`))),
    ]);
    const verifier = createAuditVerifier(sealer);
    for (const entry of await wholeChain(node(1))) verifier.push(entry);
    expect(verifier.result()).toMatchObject({ ok: true, entries: 31 });
  });

  it('leaves no gap when a change fails after its audit entry was linked', async () => {
    await node(0).appendAudit(draft('x', 'first'));
    // Unknown account: the insert fails inside the transaction, so its entry is rolled back too.
    await expect(
      node(1).createKey(stored('pk_test_orphan'), null, draft('key.create', 'orphan')),
    ).rejects.toThrow();
    await node(2).appendAudit(draft('x', 'second'));
    const chain = await wholeChain(node(0));
    expect(chain.map((entry) => entry.seq)).toEqual([1, 2]);
    expect(chain[1]?.prevHash).toBe(chain[0]?.hash);
  });

  it('lets exactly one of two nodes update a key from the same epoch', async () => {
    await node(0).createAccount({ id: 'acc_1', name: 'one', createdAt: T0 }, draft('a', 'acc_1'));
    await node(0).createKey(stored('pk_test_k'), null, draft('key.create', 'pk_test_k'));
    const results = await Promise.all(
      [0, 1].map((i) =>
        node(i).updateKey(
          { stored: stored('pk_test_k', 2), expectedEpoch: 1 },
          draft('key.update', `pk_test_k_${i}`),
        ),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const updates = (await node(2).listAudit({ action: 'key.update', limit: 10 })).length;
    expect(updates).toBe(1);
    expect((await node(2).getKey('pk_test_k'))?.key.epoch).toBe(2);
  });

  it('refuses an update from a node that read the key before another node changed it', async () => {
    await node(0).createAccount({ id: 'acc_1', name: 'one', createdAt: T0 }, draft('a', 'acc_1'));
    await node(0).createKey(stored('pk_test_k'), null, draft('key.create', 'pk_test_k'));
    const readByB = await node(1).getKey('pk_test_k');
    await node(0).updateKey(
      { stored: stored('pk_test_k', 2), expectedEpoch: 1 },
      draft('key.update', 'a'),
    );
    const applied = await node(1).updateKey(
      { stored: stored('pk_test_k', 2), expectedEpoch: readByB?.key.epoch ?? 0 },
      draft('key.update', 'b'),
    );
    expect(applied).toBe(false);
  });
});
