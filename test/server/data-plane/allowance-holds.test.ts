/**
 * Spend allowances on the data plane, through a real runtime in process (manual clock) against
 * an upstream that answers as told: orders and withdrawals are held against the key's allowance
 * before forwarding; a refusal is answered with ALLOWANCE_EXCEEDED / ALLOWANCE_EXPIRED and never
 * forwarded; an upstream refusal gives the amount back, a 2xx keeps it, a timeout keeps it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const CTX = { actor: 'test', requestId: 'req_test' };
const HOUR_MS = 3_600_000;
const dir = createTempDir();
let upstream: Server;
/** What the upstream does with the next request. */
let mode: 'ok' | 'refuse' | 'hang' = 'ok';
let received = 0;
let runtime: Runtime;
let clock: ManualClock;
let url: string;
let adminUrl: string;
let token: string;
let counter = 0;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      if (mode === 'hang') return; // never answers: the gateway times out
      res.statusCode = mode === 'ok' ? 201 : 400;
      res.setHeader('content-type', 'application/json');
      res.end(mode === 'ok' ? '{"id":"x_1"}' : '{"error":{"code":"REFUSED"}}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  clock = createManualClock(Math.floor(Date.now() / 1000) * 1000);
  const config = loadConfig(
    {
      dataDir: dir.path,
      logLevel: 'silent',
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      environments: {
        production: { enabled: false },
        sandbox: {
          listen: { host: '127.0.0.1', port: 0 },
          upstream: `http://127.0.0.1:${port}`,
          upstreamTimeout: '300ms',
          limits: { enabled: false },
        },
      },
    },
    {},
  );
  runtime = await createRuntime(config, {
    clock,
    env: { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') },
  });
  const info = await runtime.start();
  url = info.dataPlanes.sandbox?.url ?? '';
  adminUrl = info.adminUrl;
  token = readFileSync(info.adminTokenFile, 'utf8').trim();
});

afterAll(async () => {
  await runtime?.stop();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  dir.remove();
});

interface Key {
  readonly id: string;
  readonly secret: string;
}

async function newKey(): Promise<Key> {
  const account = (await runtime.keys.createAccount('alw', CTX)).id;
  const created = await runtime.keys.createKey(
    {
      accountId: account,
      environment: 'sandbox',
      scheme: 'hmac',
      scopes: ['read', 'trade', 'withdraw'],
    },
    CTX,
  );
  return { id: created.key.id, secret: created.secret ?? '' };
}

async function admin(method: 'POST' | 'DELETE', path: string, body?: unknown) {
  const response = await request(`${adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.statusCode, body: (await response.body.json()) as never };
}

async function allow(key: Key, body: Record<string, string>): Promise<string> {
  const answer = await admin('POST', `/v1/keys/${key.id}/allowances`, body);
  expect(answer.status).toBe(201);
  return (answer.body as { allowance: { id: string } }).allowance.id;
}

async function send(key: Key, path: string, payload: unknown) {
  const body = JSON.stringify(payload);
  const headers = signNativeRequest({
    method: 'POST',
    path,
    rawQuery: null,
    body,
    keyId: key.id,
    secret: key.secret,
    createdSeconds: Math.floor(clock.now() / 1000),
    nonce: `n${counter++}${randomBytes(8).toString('hex')}`,
  });
  const response = await request(`${url}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body,
  });
  const text = await response.body.text();
  const code = (JSON.parse(text || '{}') as { error?: { code?: string } }).error?.code;
  return { status: response.statusCode, code };
}

const order = (key: Key, quantity: string, price: string | undefined, symbol = 'BTCUSDT') =>
  send(key, '/api/v1/orders', {
    symbol,
    side: 'buy',
    type: price === undefined ? 'market' : 'limit',
    quantity,
    ...(price !== undefined ? { price } : {}),
  });

const withdraw = (key: Key, amount: string, asset = 'USDT') =>
  send(key, '/api/v1/withdrawals', { asset, amount, address: 'addr-test-01' });

/** The answer and whether the upstream saw the request. */
async function forwarded<T>(call: () => Promise<T>): Promise<{ answer: T; forwarded: boolean }> {
  const before = received;
  const answer = await call();
  return { answer, forwarded: received > before };
}

const NOTIONAL_100 = { kind: 'notional', asset: 'USDT', amount: '100', period: '1h' };

describe('notional allowances on orders', () => {
  it('counts price × quantity, refuses past the allowance without forwarding, refills next period', async () => {
    const key = await newKey();
    await allow(key, { ...NOTIONAL_100, expiresIn: '1d' });
    mode = 'ok';
    expect((await order(key, '0.5', '100')).status).toBe(201);
    expect((await order(key, '0.25', '200')).status).toBe(201);
    const refused = await forwarded(() => order(key, '0.0001', '100'));
    expect(refused).toEqual({
      answer: { status: 403, code: 'ALLOWANCE_EXCEEDED' },
      forwarded: false,
    });
    clock.advance(HOUR_MS);
    expect((await order(key, '1', '100')).status).toBe(201);
  });

  it('an upstream refusal gives the notional back', async () => {
    const key = await newKey();
    await allow(key, { ...NOTIONAL_100, expiresIn: '1d' });
    mode = 'refuse';
    expect((await order(key, '1', '100')).status).toBe(400);
    mode = 'ok';
    expect((await order(key, '1', '100')).status).toBe(201);
  });

  it('a timeout keeps the notional spent (the upstream may have executed it)', async () => {
    const key = await newKey();
    await allow(key, { ...NOTIONAL_100, expiresIn: '1d' });
    mode = 'hang';
    expect((await order(key, '1', '100')).code).toBe('UPSTREAM_TIMEOUT');
    mode = 'ok';
    expect((await order(key, '0.01', '1')).code).toBe('ALLOWANCE_EXCEEDED');
  });

  it('refuses from the expiry on with ALLOWANCE_EXPIRED, never back to open rights', async () => {
    const key = await newKey();
    await allow(key, { ...NOTIONAL_100, expiresIn: '2h' });
    mode = 'ok';
    clock.advance(2 * HOUR_MS);
    const refused = await forwarded(() => order(key, '0.01', '1'));
    expect(refused).toEqual({
      answer: { status: 403, code: 'ALLOWANCE_EXPIRED' },
      forwarded: false,
    });
  });

  it('refuses an order in a quote asset no allowance covers, and one it cannot count', async () => {
    const key = await newKey();
    await allow(key, { ...NOTIONAL_100, expiresIn: '1d' });
    mode = 'ok';
    expect((await order(key, '0.01', '1', 'ETHBTC')).code).toBe('ALLOWANCE_EXCEEDED');
    expect((await order(key, '0.01', '1', 'ETH-USDT')).status).toBe(201);
    // A market order by base quantity has no notional the gateway can count.
    expect((await order(key, '0.01', undefined)).code).toBe('BAD_REQUEST');
    const noSymbol = await send(key, '/api/v1/orders', { side: 'buy', quantity: '1', price: '1' });
    expect(noSymbol.code).toBe('BAD_REQUEST');
  });

  it('leaves keys without an allowance, and kinds without one, to scopes and policies', async () => {
    const key = await newKey();
    mode = 'ok';
    expect((await order(key, '1000', '1000')).status).toBe(201);
    expect((await order(key, '1', undefined)).status).toBe(201);
    // The key is in the key cache by now: adding an allowance drops it (key.changed).
    await allow(key, { ...NOTIONAL_100, expiresIn: '1d' });
    expect((await order(key, '1000', '1000')).code).toBe('ALLOWANCE_EXCEEDED');
    expect((await withdraw(key, '5000')).status).toBe(201);
  });

  it('removing the allowance gives the key its open rights back', async () => {
    const key = await newKey();
    const id = await allow(key, { ...NOTIONAL_100, expiresIn: '1d' });
    mode = 'ok';
    expect((await order(key, '2', '100')).code).toBe('ALLOWANCE_EXCEEDED');
    expect((await admin('DELETE', `/v1/keys/${key.id}/allowances/${id}`)).status).toBe(200);
    expect((await order(key, '2', '100')).status).toBe(201);
  });
});

describe('withdrawal allowances', () => {
  it('counts the amount per asset and refuses another asset', async () => {
    const key = await newKey();
    await allow(key, {
      kind: 'withdrawal',
      asset: 'USDT',
      amount: '150',
      period: 'lifetime',
      expiresIn: '7d',
    });
    mode = 'ok';
    expect((await withdraw(key, '100')).status).toBe(201);
    const refused = await forwarded(() => withdraw(key, '50.01'));
    expect(refused).toEqual({
      answer: { status: 403, code: 'ALLOWANCE_EXCEEDED' },
      forwarded: false,
    });
    expect((await withdraw(key, '1', 'BTC')).code).toBe('ALLOWANCE_EXCEEDED');
    const noAsset = await send(key, '/api/v1/withdrawals', { amount: '1', address: 'addr-1234' });
    expect(noAsset.code).toBe('BAD_REQUEST');
    clock.advance(3 * 24 * HOUR_MS);
    expect((await withdraw(key, '50.01')).code).toBe('ALLOWANCE_EXCEEDED');
    expect((await withdraw(key, '50')).status).toBe(201);
  });
});
