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
import { signBybit, signOkx } from '../../../src/core/signing/dialects/exchange-signers.js';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const CTX = { actor: 'test', requestId: 'req_test' };
const HOUR_MS = 3_600_000;
const dir = createTempDir();
let upstream: Server;
/** What the upstream does with the next request. */
let mode: 'ok' | 'refuse' | 'hang' = 'ok';
/** When set, the upstream answers 200 with this body (a dialect's own envelope). */
let envelope: string | undefined;
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
      if (envelope !== undefined) {
        res.statusCode = 200;
        res.setHeader('content-type', 'application/json');
        res.end(envelope);
        return;
      }
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

/** A key of its own account; with a passphrase it can sign OKX requests too. */
async function newKey(passphrase?: string): Promise<Key> {
  const account = (await runtime.keys.createAccount('alw', CTX)).id;
  const created = await runtime.keys.createKey(
    {
      accountId: account,
      environment: 'sandbox',
      scheme: 'hmac',
      scopes: ['read', 'trade', 'withdraw'],
      ...(passphrase !== undefined ? { passphrase } : {}),
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

const PASSPHRASE = 'allowance-test-passphrase';

/**
 * A limit buy of 1 BTC at `price` USDT in the dialect's own wire format: the answer's status and
 * body, and whether the upstream saw it.
 */
async function dialectOrder(dialect: 'bybit' | 'okx', key: Key, price: string) {
  const timestampMs = clock.now();
  const apiKey = { apiKey: key.id, secret: key.secret };
  const [path, body, headers] =
    dialect === 'bybit'
      ? ((body: string) =>
          [
            '/v5/order/create',
            body,
            signBybit(apiKey, { method: 'POST', rawQuery: null, body, timestampMs }),
          ] as const)(
          JSON.stringify({
            category: 'spot',
            symbol: 'BTCUSDT',
            side: 'Buy',
            orderType: 'Limit',
            qty: '1',
            price,
            orderLinkId: `o${counter++}`,
          }),
        )
      : ((body: string) =>
          [
            '/api/v5/trade/order',
            body,
            signOkx(
              { ...apiKey, passphrase: PASSPHRASE },
              { method: 'POST', path: '/api/v5/trade/order', rawQuery: null, body, timestampMs },
            ),
          ] as const)(
          JSON.stringify({
            instId: 'BTC-USDT',
            tdMode: 'cash',
            side: 'buy',
            ordType: 'limit',
            sz: '1',
            px: price,
            clOrdId: `o${counter++}`,
          }),
        );
  const before = received;
  const response = await request(`${url}${path}`, { method: 'POST', headers, body });
  const answer = (await response.body.json()) as Record<string, unknown>;
  return { status: response.statusCode, answer, forwarded: received > before };
}

describe('orders an exchange rejects with HTTP 200 (Bybit retCode, OKX code)', () => {
  const answers = {
    bybit: {
      rejected: JSON.stringify({ retCode: 170131, retMsg: 'Insufficient balance.', result: {} }),
      placed: JSON.stringify({ retCode: 0, retMsg: 'OK', result: { orderId: '1' } }),
    },
    okx: {
      rejected: JSON.stringify({
        code: '1',
        msg: '',
        data: [{ ordId: '', clOrdId: '', sCode: '51008', sMsg: 'Insufficient balance' }],
      }),
      placed: JSON.stringify({
        code: '0',
        msg: '',
        data: [{ ordId: '1', clOrdId: '', sCode: '0', sMsg: '' }],
      }),
    },
  } as const;

  it.each(['bybit', 'okx'] as const)(
    '%s: a rejected order gives its notional back; placed ones count',
    async (dialect) => {
      const key = await newKey(PASSPHRASE);
      await allow(key, { ...NOTIONAL_100, expiresIn: '1d' });
      try {
        envelope = answers[dialect].placed;
        envelope = answers[dialect].rejected;
        // Passed through as the exchange answered it, and not counted: 60 of 100 is still free.
        const rejected = await dialectOrder(dialect, key, '60');
        expect(rejected).toMatchObject({ status: 200, forwarded: true });
        expect(rejected.answer).toEqual(JSON.parse(answers[dialect].rejected));
        envelope = answers[dialect].placed;
        expect(await dialectOrder(dialect, key, '60')).toMatchObject({ forwarded: true });
        // 60 counted: another 60 does not fit, and is refused without being forwarded.
        const refused = await dialectOrder(dialect, key, '60');
        expect(refused.forwarded).toBe(false);
        // Each dialect's permission answer (docs/errors.md), HTTP 200 as the exchanges send it.
        expect(refused.answer).toMatchObject(
          dialect === 'bybit' ? { retCode: 10005 } : { code: '50120' },
        );
      } finally {
        envelope = undefined;
      }
    },
  );
});

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
