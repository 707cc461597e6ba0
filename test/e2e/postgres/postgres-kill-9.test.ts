/**
 * Two nodes on one PostgreSQL schema take a burst of concurrent control-plane changes (keys and
 * policies) through their admin APIs; node A is killed with SIGKILL mid-burst while B goes on.
 * Afterwards the audit log is one chain that verifies (two writers, one of them killed), the
 * store and its audit log agree exactly, and every change either node acknowledged is there.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresControlStore,
  type PostgresControlStore,
} from '../../../src/adapters/postgres/postgres-control-store.js';
import type { AuditEntry } from '../../../src/core/audit/audit-chain.js';
import type { PolicyRecord, StoredKey } from '../../../src/ports.js';
import {
  dropSchema,
  POSTGRES_URL,
  randomSchema,
} from '../../adapters/postgres/postgres-harness.js';
import { createManualClock } from '../../helpers/manual-clock.js';
import { adminRequest, startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const SEED_KEYS = 12;
const BURST = 300;
const KILL_AFTER_ACKS = 50;

type KeyAction = 'key.create' | 'key.update' | 'key.rotate' | 'key.revoke';
type Ack =
  | {
      readonly kind: 'key';
      readonly keyId: string;
      readonly action: KeyAction;
      readonly epoch: number;
    }
  | { readonly kind: 'policy'; readonly policyId: string };

const schema = randomSchema();
const dir = createTempDir('portcullis-e2e-pg-kill-');
const env = {
  PORTCULLIS_STORE: `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}schema=${schema}`,
  // One master key for both nodes: it unwraps the audit key and the secrets stored in PostgreSQL.
  PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64'),
};
const acks: Ack[] = [];
/** Acknowledgements node B gave after node A was killed. */
let acksAfterKill = 0;
let killedBy: string | null = null;
let a: ServerHandle;
let b: ServerHandle;
let store: PostgresControlStore;
let keys: StoredKey[];
let policies: PolicyRecord[];
let audit: AuditEntry[];

const startNode = (name: string) => startServer({ env, dataDir: join(dir.path, name) });

beforeAll(async () => {
  a = await startNode('a');
  // The bootstrap token lives in PostgreSQL: node B finds one and writes none, so it gets A's.
  mkdirSync(join(dir.path, 'b'), { recursive: true });
  writeFileSync(join(dir.path, 'b', 'admin-token'), a.token, { mode: 0o600 });
  b = await startNode('b');
  const account = await adminRequest(a, 'POST', '/v1/accounts', { name: 'burst' });
  const accountId = account.body.id as string;
  const seeded: string[] = [];
  for (let i = 0; i < SEED_KEYS; i++) {
    const created = await adminRequest(i % 2 ? b : a, 'POST', '/v1/keys', {
      accountId,
      environment: 'sandbox',
      scopes: ['read'],
    });
    seeded.push((created.body.key as { id: string }).id);
  }

  let killed = false;
  const killA = () => {
    if (killed) return;
    killed = true;
    a.child.kill('SIGKILL');
  };
  const operation = async (i: number): Promise<void> => {
    const node = i % 2 ? b : a;
    const keyId = seeded[i % seeded.length] ?? '';
    const kind = i % 5;
    try {
      if (kind === 4) {
        const policyId = `pol-${i}`;
        const response = await adminRequest(node, 'POST', '/v1/policies', {
          id: policyId,
          effect: 'permit',
          target: { actions: ['order.place'] },
          condition: 'true',
        });
        if (response.status === 201) {
          acks.push({ kind: 'policy', policyId });
          if (killed) acksAfterKill += 1;
        }
      } else {
        const response =
          kind === 0
            ? await adminRequest(node, 'POST', '/v1/keys', {
                accountId,
                environment: 'production',
                scopes: ['read', 'trade'],
              })
            : kind === 1
              ? await adminRequest(node, 'PATCH', `/v1/keys/${keyId}`, { label: `l${i}` })
              : kind === 2
                ? await adminRequest(node, 'POST', `/v1/keys/${keyId}/rotate`, { grace: '1h' })
                : await adminRequest(node, 'POST', `/v1/keys/${keyId}/revoke`);
        if (response.status >= 200 && response.status < 300) {
          const key = response.body.key as { id: string; epoch: number };
          const action = (['key.create', 'key.update', 'key.rotate', 'key.revoke'] as const)[kind];
          if (action) acks.push({ kind: 'key', keyId: key.id, action, epoch: key.epoch });
          if (killed) acksAfterKill += 1;
        }
      }
      if (acks.length >= KILL_AFTER_ACKS) killA();
    } catch {
      // The connection died with node A: not acknowledged, so no promise to keep.
    }
  };
  await Promise.all(Array.from({ length: BURST }, (_, i) => operation(i)));
  killA();
  await a.kill9();
  killedBy = a.child.signalCode;

  // Node A comes back on the same schema; the store is also read directly.
  a = await startNode('a');
  store = await createPostgresControlStore({
    url: POSTGRES_URL,
    schema,
    clock: createManualClock(),
  });
  keys = await store.listKeys({ limit: 100_000 });
  policies = await store.listPolicies();
  audit = await store.listAudit({ limit: 1_000_000 });
}, 240_000);

afterAll(async () => {
  await store?.close();
  await a?.cleanup();
  await b?.cleanup();
  await dropSchema(schema);
  dir.remove();
});

describe('two nodes on PostgreSQL, one killed with -9 during a burst of changes', () => {
  it('killed node A mid-burst, with changes acknowledged before and after', () => {
    expect(acks.length).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(acks.length).toBeLessThan(BURST);
    expect(acksAfterKill).toBeGreaterThan(0);
    expect(killedBy).toBe('SIGKILL');
  });

  it('has one audit chain that verifies, on either node', async () => {
    for (const node of [a, b]) {
      const verified = await adminRequest(node, 'GET', '/v1/audit/verify');
      expect(verified.body).toMatchObject({ ok: true });
      expect(verified.body.entries).toBeGreaterThanOrEqual(audit.length);
    }
    expect(audit.map((entry) => entry.seq)).toEqual(audit.map((_, i) => i + 1));
  });

  it('has a key.create entry for every key, and a key for every key.create entry', () => {
    const created = new Set(audit.filter((e) => e.action === 'key.create').map((e) => e.target));
    expect(new Set(keys.map((k) => k.key.id))).toEqual(created);
  });

  it("has each key's epoch equal to 1 + its update, rotate and revoke entries", () => {
    const changes = new Map<string, number>();
    for (const entry of audit) {
      if (['key.update', 'key.rotate', 'key.revoke'].includes(entry.action)) {
        changes.set(entry.target, (changes.get(entry.target) ?? 0) + 1);
      }
    }
    for (const { key } of keys) expect(key.epoch).toBe(1 + (changes.get(key.id) ?? 0));
  });

  it('has a policy for every policy.create entry, and an entry for every policy', () => {
    const created = audit.filter((e) => e.action === 'policy.create').map((e) => e.target);
    expect(policies.map((p) => p.id).sort()).toEqual(created.sort());
  });

  it('keeps every acknowledged change, with its audit entry', () => {
    for (const ack of acks) {
      if (ack.kind === 'policy') {
        expect(
          policies.some((p) => p.id === ack.policyId),
          ack.policyId,
        ).toBe(true);
        continue;
      }
      const entry = audit.find(
        (e) =>
          e.target === ack.keyId &&
          e.action === ack.action &&
          (e.data.after as { epoch?: number } | undefined)?.epoch === ack.epoch,
      );
      expect(entry, `${ack.action} ${ack.keyId} epoch ${ack.epoch}`).toBeDefined();
      const stored = keys.find((k) => k.key.id === ack.keyId);
      expect(stored?.key.epoch ?? 0).toBeGreaterThanOrEqual(ack.epoch);
    }
  });
});
