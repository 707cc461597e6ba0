/**
 * A real runtime on real sockets (in process, manual clock) for the observability tests:
 * signed native requests, admin calls with the bootstrap token, and a way to wait for the
 * off-path work (risk batch, traffic flush) to finish.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import type { Scope } from '../../../src/core/keys/model.js';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js';
import { createTempDir } from '../../helpers/temp-dir.js';

export const CTX = { actor: 'test', requestId: 'req_test' };

export interface Gateway {
  readonly runtime: Runtime;
  readonly clock: ManualClock;
  readonly urls: { sandbox: string; production: string };
  readonly adminUrl: string;
  readonly token: string;
  /** Waits for the risk batch and the traffic-log flush. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** Starts both environments; `extra` is merged into the configuration (per environment too). */
export async function startGateway(
  extra: Record<string, unknown> = {},
  envExtra: Record<string, unknown> = {},
  processEnv: Record<string, string> = {},
): Promise<Gateway> {
  const dir = createTempDir();
  const clock = createManualClock(Math.floor(Date.now() / 1000) * 1000);
  const plane = (name: string) => ({
    listen: { host: '127.0.0.1', port: 0 },
    ...(envExtra[name] as Record<string, unknown> | undefined),
  });
  const config = loadConfig(
    {
      dataDir: dir.path,
      logLevel: 'silent',
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      environments: { production: plane('production'), sandbox: plane('sandbox') },
      ...extra,
    },
    {},
  );
  const runtime = await createRuntime(config, {
    clock,
    env: { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64'), ...processEnv },
  });
  const info = await runtime.start();
  return {
    runtime,
    clock,
    urls: {
      sandbox: info.dataPlanes.sandbox?.url ?? '',
      production: info.dataPlanes.production?.url ?? '',
    },
    adminUrl: info.adminUrl,
    token: readFileSync(info.adminTokenFile, 'utf8').trim(),
    async settle() {
      await new Promise((resolve) => setImmediate(resolve));
      await runtime.observability.drain();
      await runtime.observability.traffic?.flush();
    },
    async close() {
      await runtime.stop();
      dir.remove();
    },
  };
}

export interface TestKey {
  readonly id: string;
  readonly secret: string;
  readonly accountId: string;
  readonly environment: 'sandbox' | 'production';
}

export async function newKey(
  g: Gateway,
  options: {
    environment?: 'sandbox' | 'production';
    scopes?: Scope[];
    ipAllowlist?: string[];
    accountId?: string;
  } = {},
): Promise<TestKey> {
  const environment = options.environment ?? 'sandbox';
  const accountId = options.accountId ?? (await g.runtime.keys.createAccount('obs', CTX)).id;
  const created = await g.runtime.keys.createKey(
    {
      accountId,
      environment,
      scheme: 'hmac',
      scopes: options.scopes ?? ['read', 'trade', 'withdraw'],
      ...(options.ipAllowlist ? { ipAllowlist: options.ipAllowlist } : {}),
    },
    CTX,
  );
  return { id: created.key.id, secret: created.secret ?? '', accountId, environment };
}

let counter = 0;

export type Call = 'balance' | 'order' | 'cancel' | 'withdraw';

const CALLS: Readonly<Record<Call, { method: string; path: string; body: () => string }>> = {
  balance: { method: 'GET', path: '/api/v1/balances', body: () => '' },
  order: {
    method: 'POST',
    path: '/api/v1/orders',
    body: () =>
      JSON.stringify({
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        quantity: '0.01',
        price: '100.00',
        clientOrderId: `obs-${counter}`,
      }),
  },
  cancel: { method: 'DELETE', path: '/api/v1/orders/ord_missing', body: () => '' },
  withdraw: {
    method: 'POST',
    path: '/api/v1/withdrawals',
    body: () => JSON.stringify({ asset: 'USDT', amount: '1.00', address: 'addr-1' }),
  },
};

/** One signed native request; `secret` overrides the key's (a bad signature). */
export async function send(
  g: Gateway,
  key: TestKey,
  call: Call = 'balance',
  options: { secret?: string; forwardedFor?: string } = {},
): Promise<{ status: number; code: string | undefined }> {
  const spec = CALLS[call];
  const body = spec.body();
  const headers = signNativeRequest({
    method: spec.method,
    path: spec.path,
    rawQuery: null,
    body,
    keyId: key.id,
    secret: options.secret ?? key.secret,
    createdSeconds: Math.floor(g.clock.now() / 1000),
    nonce: `n${counter++}${randomBytes(8).toString('hex')}`,
  });
  const response = await request(`${g.urls[key.environment]}${spec.path}`, {
    method: spec.method as 'GET',
    headers: {
      ...headers,
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(options.forwardedFor ? { 'x-forwarded-for': options.forwardedFor } : {}),
    },
    ...(body ? { body } : {}),
  });
  const text = await response.body.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text || '{}') as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: response.statusCode, code };
}

/** An admin API call with the bootstrap (owner) token. */
export async function admin<T = Record<string, unknown>>(
  g: Gateway,
  method: 'GET' | 'POST',
  path: string,
  token: string | null = g.token,
): Promise<{ status: number; body: T; text: string; contentType: string }> {
  const response = await request(`${g.adminUrl}${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    ...(method === 'POST' ? { body: '{}' } : {}),
  });
  const text = await response.body.text();
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    body = {} as T;
  }
  return {
    status: response.statusCode,
    body,
    text,
    contentType: String(response.headers['content-type'] ?? ''),
  };
}
