/** Shared set-up for benchmarks: a real key service over an in-memory SQLite store. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createMemoryReplayGuard } from '../src/adapters/memory/replay-guard.js';
import { createSqliteControlStore } from '../src/adapters/sqlite/sqlite-control-store.js';
import { createDummyKeys, DEFAULT_ROUTES } from '../src/app/data-planes.js';
import { createLocalEvents } from '../src/app/local-events.js';
import type { Clock } from '../src/core/clock.js';
import type { PipelineDeps, PipelineRequest } from '../src/core/pipeline.js';
import { compileRouteTable } from '../src/core/routes/route-table.js';
import { binanceScheme } from '../src/core/signing/binance.js';
import { bybitScheme } from '../src/core/signing/bybit.js';
import { signBinance } from '../src/core/signing/dialects/exchange-signers.js';
import { nativeScheme, signNativeRequest } from '../src/core/signing/native/index.js';
import { createOkxScheme } from '../src/core/signing/okx.js';
import type { SigningScheme } from '../src/core/signing/types.js';
import { createKeyring, masterKeyFromBytes } from '../src/services/envelope.js';
import { createKeyCache, type KeyCache } from '../src/services/key-cache.js';
import { createKeyService } from '../src/services/key-service.js';

export interface BenchKey {
  readonly id: string;
  readonly secret: string;
}

export const ORDER_BODY = Buffer.from(
  JSON.stringify({
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'limit',
    quantity: '0.01000000',
    price: '50000.00',
    clientOrderId: 'bench-0001',
  }),
);

/** Creates `count` hmac keys in an in-memory store; returns the service, a warm-able cache and keys. */
export async function seedKeys(count: number, clock: Clock) {
  const store = createSqliteControlStore({ path: ':memory:', clock });
  store.setAuditSealer((hash) => hash);
  const events = createLocalEvents();
  const keyring = createKeyring(masterKeyFromBytes(randomBytes(32)));
  const keys = createKeyService({ store, clock, events, keyring: () => keyring });
  const account = await keys.createAccount('bench', { actor: 'bench', requestId: 'bench' });
  const created: BenchKey[] = [];
  for (let i = 0; i < count; i++) {
    const result = await keys.createKey(
      { accountId: account.id, environment: 'sandbox', scheme: 'hmac', scopes: ['read', 'trade'] },
      { actor: 'bench', requestId: 'bench' },
    );
    created.push({ id: result.key.id, secret: result.secret ?? '' });
  }
  const cache = createKeyCache({ keys, events }, { maxEntries: 100_000 });
  return { store, keys, cache, created };
}

/**
 * Opens a data directory seeded by seedDataDir (bench/seed-data-dir.ts): the same key service
 * and cache as seedKeys, over the file a gateway would open. Close the store before a gateway
 * process opens the directory.
 */
export function openSeededKeys(dataDir: string, masterKey: string, clock: Clock) {
  const store = createSqliteControlStore({ path: join(dataDir, 'portcullis.db'), clock });
  const keyring = createKeyring(masterKeyFromBytes(Buffer.from(masterKey, 'base64')));
  const keys = createKeyService({
    store,
    clock,
    events: createLocalEvents(),
    keyring: () => keyring,
  });
  const cache = createKeyCache({ keys, events: createLocalEvents() }, { maxEntries: 100_000 });
  return { store, keys, cache };
}

export function pipelineDeps(cache: KeyCache, clock: Clock): PipelineDeps {
  return {
    environment: 'sandbox',
    schemes: [nativeScheme, binanceScheme, bybitScheme, createOkxScheme()] as SigningScheme[],
    routes: compileRouteTable(DEFAULT_ROUTES),
    window: { pastMs: 5000, futureMs: 1000 },
    keys: cache,
    replay: createMemoryReplayGuard({ clock }, { maxEntries: 2_000_000 }),
    dummyKeys: createDummyKeys(),
  };
}

/** A signed native order request (POST with a JSON body and Content-Digest). */
export function nativeOrderRequest(key: BenchKey, nowMs: number, i: number): PipelineRequest {
  const nonce = `${randomBytes(12).toString('base64url')}${i}`;
  const headers = signNativeRequest({
    method: 'POST',
    path: '/api/v1/orders',
    rawQuery: null,
    body: ORDER_BODY,
    keyId: key.id,
    secret: key.secret,
    createdSeconds: Math.floor(nowMs / 1000),
    nonce,
  });
  return {
    method: 'POST',
    path: '/api/v1/orders',
    rawQuery: null,
    headers: { ...headers, 'content-type': 'application/json', host: '127.0.0.1:8090' },
    body: ORDER_BODY,
    clientIp: '127.0.0.1',
    nowMs,
  };
}

/** The same order in the Binance dialect (form body, timestamp + recvWindow + signature). */
export function binanceOrderRequest(key: BenchKey, nowMs: number, i: number): PipelineRequest {
  const signed = signBinance(
    { apiKey: key.id, secret: key.secret },
    {
      params: `symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01000000&price=50000.00&newClientOrderId=b${i}`,
      timestampMs: nowMs - (i % 1000),
      recvWindowMs: 5000,
      placement: 'body',
    },
  );
  return {
    method: 'POST',
    path: '/api/v3/order',
    rawQuery: null,
    headers: { ...signed.headers, host: '127.0.0.1:8090' },
    body: Buffer.from(signed.body),
    clientIp: '127.0.0.1',
    nowMs,
  };
}
