/** Seeds a gateway data directory with many keys, fast (bulk mode), for the macro benchmarks. */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createSqliteControlStore } from '../src/adapters/sqlite/sqlite-control-store.js';
import { createLocalEvents } from '../src/app/local-events.js';
import { systemClock } from '../src/core/clock.js';
import { createKeyring, masterKeyFromBytes } from '../src/services/envelope.js';
import { createKeyService } from '../src/services/key-service.js';
import { openAuditSealer } from '../src/services/master-keys.js';
import type { BenchKey } from './fixtures.js';

export async function seedDataDir(
  dataDir: string,
  count: number,
): Promise<{ masterKey: string; keys: BenchKey[] }> {
  mkdirSync(dataDir, { recursive: true });
  const masterKeyBytes = randomBytes(32);
  const keyring = createKeyring(masterKeyFromBytes(masterKeyBytes));
  const store = createSqliteControlStore({
    path: join(dataDir, 'portcullis.db'),
    clock: systemClock,
    synchronous: 'OFF',
  });
  store.setAuditSealer(await openAuditSealer(store, keyring));
  const keys = createKeyService({
    store,
    clock: systemClock,
    events: createLocalEvents(),
    keyring: () => keyring,
  });
  const ctx = { actor: 'bench', requestId: 'bench' };
  const account = await keys.createAccount('bench', ctx);
  const created: BenchKey[] = [];
  for (let i = 0; i < count; i++) {
    const result = await keys.createKey(
      { accountId: account.id, environment: 'sandbox', scheme: 'hmac', scopes: ['read', 'trade'] },
      ctx,
    );
    created.push({ id: result.key.id, secret: result.secret ?? '' });
  }
  await store.close();
  return { masterKey: masterKeyBytes.toString('base64'), keys: created };
}
