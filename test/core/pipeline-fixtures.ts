/**
 * In-memory dependencies for pipeline unit tests: keys built with toCachedKey (the data plane's
 * own in-memory form), the memory replay guard on a manual clock, the sandbox route table, and
 * request builders that sign natively (or OKX-style) over the exact bytes they return.
 */
import { createHmac, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createMemoryReplayGuard } from '../../src/adapters/memory/replay-guard.js';
import type { ApiKey } from '../../src/core/keys/model.js';
import type {
  CachedKey,
  KeyLookup,
  PipelineDeps,
  PipelineRequest,
} from '../../src/core/pipeline.js';
import type { ReplayGuard } from '../../src/core/replay/replay-guard.js';
import { compileRouteTable } from '../../src/core/routes/route-table.js';
import { signNativeRequest } from '../../src/core/signing/native/index.js';
import { nativeScheme } from '../../src/core/signing/native/index.js';
import { createOkxScheme } from '../../src/core/signing/okx.js';
import type { SigningScheme } from '../../src/core/signing/types.js';
import { SANDBOX_ROUTES } from '../../src/sandbox/routes.js';
import { toCachedKey } from '../../src/services/key-cache.js';
import { hashPassphrase } from '../../src/services/passphrase.js';
import { createManualClock, type ManualClock } from '../helpers/manual-clock.js';

export const NOW_MS = 1_767_225_600_000;
export const NOW_SECONDS = NOW_MS / 1000;
export const CLIENT_IP = '127.0.0.1';

export const SECRET = 'psk_test_current_secret_0123456789';
export const OLD_SECRET = 'psk_test_previous_secret_987654321';
export const PASSPHRASE = 'correct horse';

let nonceCounter = 0;
/** Deterministic, unique nonces of the profile's shape. */
export const nextNonce = (): string => `nonce_${String(++nonceCounter).padStart(16, '0')}`;

export function apiKey(overrides: Partial<ApiKey> = {}): ApiKey {
  return {
    id: 'pk_test_hmac0000000001',
    accountId: 'acc_unit0000001',
    label: 'unit',
    environment: 'sandbox',
    scheme: 'hmac',
    scopes: ['read', 'trade'],
    ipAllowlist: [],
    hasPassphrase: false,
    status: 'active',
    createdAt: NOW_MS - 86_400_000,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    epoch: 1,
    secretVersion: 1,
    ...overrides,
  };
}

/** An HMAC key; `secrets` are given current first, each with its end of validity. */
export function hmacKey(
  key: ApiKey,
  secrets: readonly { secret: string; notAfter: number | null }[] = [
    { secret: SECRET, notAfter: null },
  ],
  passphraseHash: string | null = null,
): CachedKey {
  return toCachedKey({
    stored: { key, passphraseHash, publicKeyPem: null },
    secrets: secrets.map((s) => ({ bytes: Buffer.from(s.secret, 'utf8'), notAfter: s.notAfter })),
    publicKey: null,
  });
}

export function ed25519Key(key: ApiKey): { cached: CachedKey; privateKey: KeyObject } {
  const pair = generateKeyPairSync('ed25519');
  const cached = toCachedKey({
    stored: {
      key,
      passphraseHash: null,
      publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    },
    secrets: [],
    publicKey: pair.publicKey,
  });
  return { cached, privateKey: pair.privateKey };
}

export function okxKey(key: ApiKey): CachedKey {
  return hmacKey({ ...key, hasPassphrase: true }, undefined, hashPassphrase(PASSPHRASE));
}

/** A KeyLookup over a map; `async` answers every lookup with a Promise (a cache miss). */
export function mapLookup(keys: readonly CachedKey[], async = false): KeyLookup {
  const byId = new Map(keys.map((k) => [k.key.id, k]));
  return { get: (id) => (async ? Promise.resolve(byId.get(id)) : byId.get(id)) };
}

export interface TestDeps {
  readonly deps: PipelineDeps;
  readonly clock: ManualClock;
}

export function pipelineDeps(
  keys: KeyLookup,
  overrides: Partial<PipelineDeps> & { clock?: ManualClock } = {},
): TestDeps {
  const clock = overrides.clock ?? createManualClock(NOW_MS);
  const replay: ReplayGuard = overrides.replay ?? createMemoryReplayGuard({ clock });
  const deps: PipelineDeps = {
    environment: 'sandbox',
    schemes: [nativeScheme, createOkxScheme()],
    routes: compileRouteTable(SANDBOX_ROUTES),
    window: { pastMs: 5000, futureMs: 1000 },
    keys,
    replay,
    dummyKeys: {
      hmac: { scheme: 'hmac', secrets: [randomBytes(32)] },
      ed25519: { scheme: 'ed25519', publicKey: generateKeyPairSync('ed25519').publicKey },
    },
    ...overrides,
  };
  return { deps, clock };
}

export interface NativeOptions {
  readonly keyId?: string;
  readonly secret?: string;
  readonly privateKey?: KeyObject;
  readonly createdSeconds?: number;
  readonly nonce?: string;
  /** Bytes sent instead of the signed ones. */
  readonly sendBody?: Buffer;
  readonly contentType?: string;
  readonly clientIp?: string;
  readonly nowMs?: number;
  readonly extraHeaders?: Readonly<Record<string, string>>;
}

/** A natively signed request over exactly the bytes it carries. */
export function nativeRequest(
  method: string,
  target: string,
  body: string | Buffer | undefined,
  options: NativeOptions = {},
): PipelineRequest {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? null : target.slice(q + 1);
  const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  const common = {
    method,
    path,
    rawQuery,
    body: bytes,
    keyId: options.keyId ?? 'pk_test_hmac0000000001',
    createdSeconds: options.createdSeconds ?? NOW_SECONDS,
    nonce: options.nonce ?? nextNonce(),
  };
  const signed =
    options.privateKey !== undefined
      ? signNativeRequest({ ...common, privateKey: options.privateKey })
      : signNativeRequest({ ...common, secret: options.secret ?? SECRET });
  return {
    method,
    path,
    rawQuery,
    headers: {
      ...signed,
      ...(bytes.length > 0 ? { 'content-type': options.contentType ?? 'application/json' } : {}),
      ...options.extraHeaders,
    },
    body: options.sendBody ?? bytes,
    clientIp: options.clientIp ?? CLIENT_IP,
    nowMs: options.nowMs ?? NOW_MS,
  };
}

/** An unsigned request. */
export function plainRequest(method: string, target: string): PipelineRequest {
  const q = target.indexOf('?');
  return {
    method,
    path: q < 0 ? target : target.slice(0, q),
    rawQuery: q < 0 ? null : target.slice(q + 1),
    headers: {},
    body: Buffer.alloc(0),
    clientIp: CLIENT_IP,
    nowMs: NOW_MS,
  };
}

/** An OKX v5 request: base64 HMAC over timestamp + METHOD + path + body (okx.com/docs-v5). */
export function okxRequest(
  keyId: string,
  passphrase: string,
  target = '/api/v5/account/balance',
): PipelineRequest {
  const timestamp = new Date(NOW_MS).toISOString();
  const sign = createHmac('sha256', SECRET).update(`${timestamp}GET${target}`).digest('base64');
  const q = target.indexOf('?');
  return {
    method: 'GET',
    path: q < 0 ? target : target.slice(0, q),
    rawQuery: q < 0 ? null : target.slice(q + 1),
    headers: {
      'ok-access-key': keyId,
      'ok-access-sign': sign,
      'ok-access-timestamp': timestamp,
      'ok-access-passphrase': passphrase,
    },
    body: Buffer.alloc(0),
    clientIp: CLIENT_IP,
    nowMs: NOW_MS,
  };
}

/** Wraps a scheme and counts its `verify` calls. */
export function countingScheme(inner: SigningScheme): SigningScheme & { verifyCalls: number } {
  const spy = {
    verifyCalls: 0,
    dialect: inner.dialect,
    detect: inner.detect.bind(inner),
    parse: inner.parse.bind(inner),
    inWindow: inner.inWindow.bind(inner),
    verify: (...args: Parameters<SigningScheme['verify']>) => {
      spy.verifyCalls += 1;
      return inner.verify(...args);
    },
  };
  return spy;
}
