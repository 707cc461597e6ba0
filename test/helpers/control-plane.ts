/**
 * An in-process control plane for tests: real services over a real SQLite file in a temp
 * directory, an injected clock, and the admin app built with buildAdminApp (driven through
 * `inject()`, no socket). Mirrors the wiring of src/app/runtime.ts without its listeners.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createSqliteControlStore } from '../../src/adapters/sqlite/sqlite-control-store.js';
import { createLocalEvents } from '../../src/app/local-events.js';
import type { AuditSealer } from '../../src/core/audit/audit-chain.js';
import type { AdminRole, ChangeEvent, ControlStore } from '../../src/ports.js';
import { buildAdminApp } from '../../src/server/admin/build-admin-app.js';
import { createAdminTokenService } from '../../src/services/admin-tokens.js';
import { createAuditService } from '../../src/services/audit-service.js';
import type { Keyring } from '../../src/services/envelope.js';
import { createKeyService } from '../../src/services/key-service.js';
import {
  loadKeyring,
  openAuditSealer,
  rotateMasterKey,
  type LoadedKeyring,
} from '../../src/services/master-keys.js';
import { createManualClock, type ManualClock } from './manual-clock.js';
import { createTempDir } from './temp-dir.js';

export const TEST_CTX = { actor: 'test', requestId: 'req_test' } as const;

export interface ControlPlaneOptions {
  /** Reuse a data directory (e.g. to reopen a store); a fresh temp dir otherwise. */
  readonly dataDir?: string;
  readonly clock?: ManualClock;
  /** PORTCULLIS_MASTER_KEY; absent means a key file in the data directory. */
  readonly masterKeyEnv?: string;
  readonly bodyLimitBytes?: number;
}

export interface TestControlPlane {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly keyFilePath: string;
  readonly clock: ManualClock;
  readonly store: ControlStore;
  readonly keys: ReturnType<typeof createKeyService>;
  readonly tokens: ReturnType<typeof createAdminTokenService>;
  readonly audit: ReturnType<typeof createAuditService>;
  readonly app: FastifyInstance;
  readonly events: ChangeEvent[];
  keyring(): Keyring;
  loaded(): LoadedKeyring;
  /** Issues an admin token of `role` (audited like any other) and returns its secret. */
  tokenFor(role: AdminRole, expiresAt?: number | null): Promise<string>;
  /** Master-key rotation as the runtime does it, audited. */
  rotateMasterKey(): Promise<{ rewrapped: number; activeKeyId: string }>;
  /** Closes the app and store; removes the temp dir unless `dataDir` was given. */
  close(options?: { keepDir?: boolean }): Promise<void>;
}

/** Opens (or reopens) a control plane over `<dataDir>/portcullis.db`. */
export async function createTestControlPlane(
  options: ControlPlaneOptions = {},
): Promise<TestControlPlane> {
  const temp = options.dataDir === undefined ? createTempDir() : undefined;
  const dataDir = options.dataDir ?? (temp as { path: string }).path;
  const dbPath = join(dataDir, 'portcullis.db');
  const keyFilePath = join(dataDir, 'master.key');
  const clock = options.clock ?? createManualClock();
  let loaded = loadKeyring({ envValue: options.masterKeyEnv, keyFilePath });
  let keyring = loaded.keyring;
  const store = createSqliteControlStore({ path: dbPath, clock });
  let sealer: AuditSealer;
  try {
    sealer = await openAuditSealer(store, keyring);
  } catch (error) {
    await store.close();
    temp?.remove();
    throw error;
  }
  store.setAuditSealer(sealer);
  const events: ChangeEvent[] = [];
  const bus = createLocalEvents();
  bus.subscribe((event) => events.push(event));
  const keys = createKeyService({ store, clock, events: bus, keyring: () => keyring });
  const tokens = createAdminTokenService({ store, clock, events: bus });
  const audit = createAuditService({ store, sealer: () => sealer });

  async function rotate(ctx: { actor: string; requestId: string }) {
    const result = await rotateMasterKey(store, loaded, (next) => {
      keyring = next;
    });
    loaded = { ...loaded, keyring };
    await store.appendAudit({
      ts: clock.now(),
      actor: ctx.actor,
      action: 'master-key.rotate',
      target: 'master-key',
      requestId: ctx.requestId,
      data: { activeKeyId: result.activeKeyId, rewrapped: result.rewrapped },
    });
    return { rewrapped: result.rewrapped, activeKeyId: result.activeKeyId };
  }

  const app = buildAdminApp(
    { keys, tokens, audit, clock, rotateMasterKey: rotate },
    { bodyLimitBytes: options.bodyLimitBytes ?? 65536 },
  );
  await app.ready();

  return {
    dataDir,
    dbPath,
    keyFilePath,
    clock,
    store,
    keys,
    tokens,
    audit,
    app,
    events,
    keyring: () => keyring,
    loaded: () => loaded,
    async tokenFor(role, expiresAt = null) {
      const { secret } = await tokens.issue(role, `test ${role}`, expiresAt, TEST_CTX);
      return secret;
    },
    rotateMasterKey: () => rotate(TEST_CTX),
    async close(closeOptions = {}) {
      await app.close();
      await store.close();
      if (!closeOptions.keepDir) temp?.remove();
    },
  };
}

/** Counts what a failed request must leave untouched. */
export async function snapshotCounts(
  plane: TestControlPlane,
): Promise<{ audit: number; keys: number; accounts: number; tokens: number }> {
  const audit = await plane.store.listAudit({ limit: 1_000_000 });
  const keys = await plane.store.listKeys({ limit: 1_000_000 });
  const accounts = await plane.store.listAccounts({ limit: 1_000_000 });
  const tokens = await plane.store.listAdminTokens();
  return {
    audit: audit.length,
    keys: keys.length,
    accounts: accounts.length,
    tokens: tokens.length,
  };
}
