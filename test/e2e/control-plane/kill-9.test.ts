/**
 * SIGKILL during a burst of concurrent key changes: afterwards the store and its audit log must
 * agree exactly, and every change the client saw acknowledged must be there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/core/audit/audit-chain.js';
import type { StoredKey } from '../../../src/ports.js';
import { createTestControlPlane, type TestControlPlane } from '../../helpers/control-plane.js';
import { adminRequest, startServer, type ServerHandle } from '../../helpers/server-process.js';

const SEED_KEYS = 12;
const BURST = 400;
const KILL_AFTER_ACKS = 60;

interface Ack {
  readonly keyId: string;
  readonly action: 'key.create' | 'key.update' | 'key.rotate' | 'key.revoke';
  readonly epoch: number;
}

let server: ServerHandle;
let plane: TestControlPlane;
let keys: StoredKey[];
let audit: AuditEntry[];
const acks: Ack[] = [];

beforeAll(async () => {
  server = await startServer();
  const account = await adminRequest(server, 'POST', '/v1/accounts', { name: 'burst' });
  const accountId = account.body.id as string;
  const seeded: string[] = [];
  for (let i = 0; i < SEED_KEYS; i++) {
    const created = await adminRequest(server, 'POST', '/v1/keys', {
      accountId,
      environment: 'sandbox',
      scopes: ['read'],
    });
    seeded.push((created.body.key as { id: string }).id);
  }

  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    server.child.kill('SIGKILL');
  };
  const operation = async (i: number): Promise<void> => {
    const keyId = seeded[i % seeded.length] ?? '';
    const kind = i % 4;
    try {
      const response =
        kind === 0
          ? await adminRequest(server, 'POST', '/v1/keys', {
              accountId,
              environment: 'production',
              scopes: ['read', 'trade'],
            })
          : kind === 1
            ? await adminRequest(server, 'PATCH', `/v1/keys/${keyId}`, { label: `l${i}` })
            : kind === 2
              ? await adminRequest(server, 'POST', `/v1/keys/${keyId}/rotate`, { grace: '1h' })
              : await adminRequest(server, 'POST', `/v1/keys/${keyId}/revoke`);
      if (response.status >= 200 && response.status < 300) {
        const key = response.body.key as { id: string; epoch: number };
        const action = (['key.create', 'key.update', 'key.rotate', 'key.revoke'] as const)[kind];
        if (action) acks.push({ keyId: key.id, action, epoch: key.epoch });
        if (acks.length >= KILL_AFTER_ACKS) kill();
      }
    } catch {
      // The connection died with the process: not acknowledged, so no promise to keep.
    }
  };
  await Promise.all(Array.from({ length: BURST }, (_, i) => operation(i)));
  kill();
  await server.kill9();

  plane = await createTestControlPlane({ dataDir: server.dataDir });
  keys = await plane.store.listKeys({ limit: 100_000 });
  audit = await plane.store.listAudit({ limit: 1_000_000 });
});

afterAll(async () => {
  await plane.close({ keepDir: true });
  await server.cleanup();
});

describe('after kill -9 during a burst of key changes', () => {
  it('was killed mid-burst, with some changes acknowledged and some not', () => {
    expect(acks.length).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(acks.length).toBeLessThan(BURST);
    expect(server.child.signalCode).toBe('SIGKILL');
  });

  it('has an audit chain that verifies', async () => {
    expect(await plane.audit.verify()).toMatchObject({ ok: true });
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

  it('has one secret version per create and rotate entry of each key', async () => {
    for (const { key } of keys) {
      const rotations = audit.filter((e) => e.action === 'key.rotate' && e.target === key.id);
      expect(await plane.store.getSecrets(key.id)).toHaveLength(1 + rotations.length);
    }
  });

  it('keeps every acknowledged change, with its audit entry', () => {
    for (const ack of acks) {
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
