/**
 * Attacks on the exchange dialects through a real gateway process over real sockets: requests
 * are built byte by byte (signed with the client-side signers) and sent raw. Every denial must
 * carry the pipeline's reason, rendered in the dialect's own format (docs/dialects.md). The
 * production listener forwards to an echo upstream in this process, so the test sees exactly
 * what would reach the trading engine.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDenial, type DenialReason } from '../../../src/core/dialects/render-denial.js';
import type { Dialect } from '../../../src/core/signing/types.js';
import {
  signBinance,
  signBybit,
  signOkx,
  type BinanceSignInput,
} from '../../../src/core/signing/dialects/exchange-signers.js';
import { hmacSha256 } from '../../../src/core/signing/verify-bytes.js';
import type { CliKey } from '../../helpers/cli-keys.js';
import {
  PASSPHRASE,
  binanceClient,
  bybitClient,
  okxClient,
  sendRaw,
  startDialectGateway,
  waitUntilExpired,
  type DialectGateway,
  type RawRequest,
  type RawResponse,
} from './dialect-gateway.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

let gateway: DialectGateway;
let echo: Server;
const seen: Seen[] = [];

/** Answers every request with an empty success in the envelope of the path's dialect. */
function startEcho(): Promise<string> {
  echo = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = request.url ?? '/';
      seen.push({
        method: request.method ?? '',
        url,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const body = url.startsWith('/v5/')
        ? { retCode: 0, retMsg: 'OK', result: {}, retExtInfo: {}, time: 0 }
        : url.startsWith('/api/v5/')
          ? { code: '0', msg: '', data: [] }
          : {};
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(body));
    });
  });
  return new Promise((resolve) => {
    echo.listen(0, '127.0.0.1', () => {
      resolve(`http://127.0.0.1:${(echo.address() as AddressInfo).port}`);
    });
  });
}

beforeAll(async () => {
  const upstream = await startEcho();
  gateway = await startDialectGateway({ PORTCULLIS_PRODUCTION_UPSTREAM: upstream });
});
afterAll(async () => {
  await gateway?.server.cleanup();
  await new Promise((resolve) => echo?.close(resolve));
});

const sandbox = (raw: RawRequest) => sendRaw(gateway.sandboxUrl, raw);
const production = (raw: RawRequest) => sendRaw(gateway.productionUrl, raw);

function apiKey(key: CliKey): { apiKey: string; secret: string; passphrase: string } {
  return { apiKey: key.id, secret: key.secret ?? '', passphrase: PASSPHRASE };
}

/**
 * The response is the dialect's rendering of `reason`: same HTTP status, same wire code and
 * message (Bybit's `time` is left out, it is the gateway's clock).
 */
function expectDenied(response: RawResponse, dialect: Dialect, reason: DenialReason): void {
  const expected = renderDenial(dialect, reason, { requestId: 'x', nowMs: 0 });
  const want = JSON.parse(expected.body) as Record<string, unknown>;
  const got = { ...response.json };
  delete want.time;
  delete got.time;
  expect({ status: response.status, body: got }).toEqual({ status: expected.status, body: want });
}

const now = () => Date.now();

// ---------------------------------------------------------------- Binance

function binanceRequest(
  method: string,
  path: string,
  key: CliKey,
  input: Omit<BinanceSignInput, 'placement'> & { placement?: 'query' | 'body' },
): RawRequest {
  const placement = input.placement ?? (method === 'GET' || method === 'DELETE' ? 'query' : 'body');
  const signed = signBinance(apiKey(key), { ...input, placement });
  return {
    method,
    target: signed.rawQuery === null ? path : `${path}?${signed.rawQuery}`,
    headers: signed.headers,
    body: signed.body,
  };
}

/** A signed GET /api/v3/account with the given extra parameters. */
function binanceAccount(key: CliKey, extra: Partial<BinanceSignInput> = {}): RawRequest {
  return binanceRequest('GET', '/api/v3/account', key, {
    params: '',
    timestampMs: now(),
    recvWindowMs: 5000,
    ...extra,
  });
}

/** Replaces the signature value (the last parameter) of a query-signed request. */
function withBinanceSignature(raw: RawRequest, signature: string | null): RawRequest {
  const cut = raw.target.lastIndexOf('&signature=');
  const head = raw.target.slice(0, cut);
  return { ...raw, target: signature === null ? head : `${head}&signature=${signature}` };
}

function binanceSignatureOf(raw: RawRequest): string {
  return raw.target.slice(raw.target.lastIndexOf('&signature=') + '&signature='.length);
}

describe('binance dialect attacks', () => {
  const trader = () => gateway.keys.trader;

  it('a well-formed signed request reaches the sandbox', async () => {
    const response = await sandbox(binanceAccount(trader()));
    expect(response.status).toBe(200);
    expect(response.json).toHaveProperty('balances');
  });

  it('boundary shift: parameters split between query and body are refused', async () => {
    const query = 'symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC';
    const body = `quantity=0.001&price=40000&timestamp=${now()}&recvWindow=5000`;
    // Signed the way Binance concatenates them: query ‖ body, no separator.
    const signature = hmacSha256(Buffer.from(trader().secret ?? ''), query + body).toString('hex');
    const response = await sandbox({
      method: 'POST',
      target: `/api/v3/order?${query}`,
      headers: {
        'x-mbx-apikey': trader().id,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: `${body}&signature=${signature}`,
    });
    expectDenied(response, 'binance', 'BAD_REQUEST');
  });

  it('boundary shift: the same bytes moved across the boundary are refused too', async () => {
    const query = 'symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=';
    const body = `GTCquantity=0.001&price=40000&timestamp=${now()}&recvWindow=5000`;
    const signature = hmacSha256(Buffer.from(trader().secret ?? ''), query + body).toString('hex');
    const response = await sandbox({
      method: 'POST',
      target: `/api/v3/order?${query}`,
      headers: {
        'x-mbx-apikey': trader().id,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: `${body}&signature=${signature}`,
    });
    expectDenied(response, 'binance', 'BAD_REQUEST');
  });

  it('a duplicated parameter is refused, even when signed', async () => {
    const raw = binanceRequest('GET', '/api/v3/openOrders', trader(), {
      params: 'symbol=BTCUSDT&symbol=ETHUSDT',
      timestampMs: now(),
    });
    expectDenied(await sandbox(raw), 'binance', 'BAD_REQUEST');
  });

  it('a duplicated timestamp is refused, even when signed', async () => {
    const raw = binanceAccount(trader(), { params: `timestamp=${now() - 100_000}` });
    expectDenied(await sandbox(raw), 'binance', 'BAD_REQUEST');
  });

  it('a stripped signature is malformed', async () => {
    const raw = withBinanceSignature(binanceAccount(trader()), null);
    expectDenied(await sandbox(raw), 'binance', 'SIGNATURE_MALFORMED');
  });

  it('an empty signature is malformed', async () => {
    const raw = withBinanceSignature(binanceAccount(trader()), '');
    expectDenied(await sandbox(raw), 'binance', 'SIGNATURE_MALFORMED');
  });

  it('a signature that is not the last parameter is malformed', async () => {
    const raw = binanceAccount(trader());
    const signature = binanceSignatureOf(raw);
    const target = `/api/v3/account?signature=${signature}&${raw.target.slice(
      '/api/v3/account?'.length,
      raw.target.lastIndexOf('&signature='),
    )}`;
    expectDenied(await sandbox({ ...raw, target }), 'binance', 'SIGNATURE_MALFORMED');
  });

  it('a second signature parameter is malformed', async () => {
    const raw = binanceAccount(trader());
    const target = `${raw.target}&signature=${binanceSignatureOf(raw)}`;
    expectDenied(await sandbox({ ...raw, target }), 'binance', 'SIGNATURE_MALFORMED');
  });

  it('upper-case hex verifies (Binance HMAC signatures are case-insensitive)', async () => {
    const raw = binanceAccount(trader());
    const response = await sandbox(
      withBinanceSignature(raw, binanceSignatureOf(raw).toUpperCase()),
    );
    expect(response.status).toBe(200);
  });

  it.each([
    ['63 hex characters', (s: string) => s.slice(0, 63)],
    ['65 hex characters', (s: string) => `${s}0`],
    ['128 hex characters', (s: string) => s + s],
    ['a non-hex character', (s: string) => `${s.slice(0, 63)}g`],
  ])('a signature of %s is malformed', async (_name, mutate) => {
    const raw = binanceAccount(trader());
    const response = await sandbox(withBinanceSignature(raw, mutate(binanceSignatureOf(raw))));
    expectDenied(response, 'binance', 'SIGNATURE_MALFORMED');
  });

  it('a signature with one hex digit changed does not verify', async () => {
    const raw = binanceAccount(trader());
    const signature = binanceSignatureOf(raw);
    const flipped = `${signature.slice(0, 10)}${signature[10] === '0' ? '1' : '0'}${signature.slice(11)}`;
    expectDenied(await sandbox(withBinanceSignature(raw, flipped)), 'binance', 'SIGNATURE_INVALID');
  });

  it('a timestamp in seconds is outside the window', async () => {
    const raw = binanceAccount(trader(), { timestampMs: Math.floor(now() / 1000) });
    expectDenied(await sandbox(raw), 'binance', 'TIMESTAMP_OUTSIDE_WINDOW');
  });

  it('a timestamp in microseconds is accepted, as Binance documents', async () => {
    const raw = binanceAccount(trader(), { timestampMs: now() * 1000 });
    expect((await sandbox(raw)).status).toBe(200);
  });

  it('a timestamp more than 1000 ms ahead is outside the window', async () => {
    const raw = binanceAccount(trader(), { timestampMs: now() + 3000 });
    expectDenied(await sandbox(raw), 'binance', 'TIMESTAMP_OUTSIDE_WINDOW');
  });

  it('a timestamp older than recvWindow is outside the window', async () => {
    const raw = binanceAccount(trader(), { timestampMs: now() - 3000, recvWindowMs: 1000 });
    expectDenied(await sandbox(raw), 'binance', 'TIMESTAMP_OUTSIDE_WINDOW');
  });

  it('recvWindow 60000 (the maximum) widens the window', async () => {
    const raw = binanceAccount(trader(), { timestampMs: now() - 30_000, recvWindowMs: 60_000 });
    expect((await sandbox(raw)).status).toBe(200);
  });

  it.each([60_001, 0, 1_000_000])('recvWindow %i is refused', async (recvWindowMs) => {
    const raw = binanceAccount(trader(), { recvWindowMs });
    expectDenied(await sandbox(raw), 'binance', 'SIGNATURE_MALFORMED');
  });

  it('a byte-identical replay inside the window is refused with the replay code', async () => {
    const raw = binanceAccount(trader());
    expect((await sandbox(raw)).status).toBe(200);
    expectDenied(await sandbox(raw), 'binance', 'NONCE_REPLAYED');
  });

  it('a replay with the signature in upper case is still a replay', async () => {
    const raw = binanceAccount(trader());
    expect((await sandbox(raw)).status).toBe(200);
    const upper = withBinanceSignature(raw, binanceSignatureOf(raw).toUpperCase());
    expectDenied(await sandbox(upper), 'binance', 'NONCE_REPLAYED');
  });

  it('a form body is forwarded without &signature=… and without the key header', async () => {
    const client = binanceClient(gateway.productionUrl, gateway.keys.production);
    await client.privatePostOrder({
      symbol: 'BTCUSDT',
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.001',
      price: '40000',
      newClientOrderId: 'e2e-forward-1',
    });
    const forwarded = seen.find((s) => s.body.includes('newClientOrderId=e2e-forward-1'));
    expect(forwarded?.url).toBe('/api/v3/order');
    expect(forwarded?.body).toMatch(/^timestamp=\d{13}&symbol=BTCUSDT&.*&recvWindow=10000$/);
    expect(forwarded?.headers).not.toHaveProperty('x-mbx-apikey');
    expect(forwarded?.headers['x-portcullis-key']).toBe(gateway.keys.production.id);
  });

  it('a query is forwarded without &signature=…', async () => {
    const raw = binanceRequest('GET', '/api/v3/openOrders', gateway.keys.production, {
      params: 'symbol=ETHBTC',
      timestampMs: now(),
    });
    expect((await production(raw)).status).toBe(200);
    const forwarded = seen.find((s) => s.url.startsWith('/api/v3/openOrders?symbol=ETHBTC'));
    expect(forwarded?.url).toMatch(/^\/api\/v3\/openOrders\?symbol=ETHBTC&timestamp=\d{13}$/);
  });
});

// ---------------------------------------------------------------- Bybit

function bybitRequest(
  key: CliKey,
  request: { method: string; path: string; query?: string; body?: string },
  extra: { timestampMs?: number; recvWindowMs?: number | null } = {},
): RawRequest {
  const rawQuery = request.query ?? null;
  const body = request.body ?? '';
  const headers = signBybit(apiKey(key), {
    method: request.method,
    rawQuery,
    body,
    timestampMs: extra.timestampMs ?? now(),
    recvWindowMs: extra.recvWindowMs,
  });
  return {
    method: request.method,
    target: rawQuery === null ? request.path : `${request.path}?${rawQuery}`,
    headers,
    body,
  };
}

const bybitBalance = (key: CliKey, extra?: Parameters<typeof bybitRequest>[2]) =>
  bybitRequest(
    key,
    { method: 'GET', path: '/v5/account/wallet-balance', query: 'accountType=UNIFIED' },
    extra,
  );

function withBybitHeader(raw: RawRequest, name: string, value: string | null): RawRequest {
  const headers = { ...raw.headers };
  if (value === null) delete headers[name];
  else headers[name] = value;
  return { ...raw, headers };
}

const bybitSign = (raw: RawRequest) => raw.headers?.['x-bapi-sign'] ?? '';

describe('bybit dialect attacks', () => {
  const trader = () => gateway.keys.trader;

  it('a well-formed signed request reaches the sandbox', async () => {
    const response = await sandbox(bybitBalance(trader()));
    expect(response.json).toMatchObject({ retCode: 0 });
  });

  it('boundary shift: a POST with data in the query (unsigned by Bybit) is refused', async () => {
    const raw = bybitRequest(trader(), {
      method: 'POST',
      path: '/v5/order/create',
      query: 'category=spot',
      body: '{"symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"40000"}',
    });
    expectDenied(await sandbox(raw), 'bybit', 'BAD_REQUEST');
  });

  it('boundary shift: the body of a GET (unsigned by Bybit) never reaches the upstream', async () => {
    // Fastify reads no body for GET, so the pipeline never sees it and nothing is forwarded.
    const raw = bybitRequest(gateway.keys.production, {
      method: 'GET',
      path: '/v5/account/wallet-balance',
      query: 'accountType=UNIFIED&coin=ETH',
    });
    const response = await production({
      ...raw,
      headers: { ...raw.headers, 'content-type': 'application/json' },
      body: '{"accountType":"SPOT"}',
    });
    expect(response.json).toMatchObject({ retCode: 0 });
    const forwarded = seen.find(
      (s) => s.url === '/v5/account/wallet-balance?accountType=UNIFIED&coin=ETH',
    );
    expect(forwarded?.body).toBe('');
  });

  it('boundary shift: a digit moved from recvWindow into the query is refused', async () => {
    const raw = bybitRequest(
      trader(),
      { method: 'GET', path: '/v5/account/wallet-balance', query: '0accountType=UNIFIED' },
      { recvWindowMs: 500 },
    );
    expectDenied(await sandbox(raw), 'bybit', 'BAD_REQUEST');
  });

  it('a duplicated query parameter is refused, even when signed', async () => {
    const raw = bybitRequest(trader(), {
      method: 'GET',
      path: '/v5/account/wallet-balance',
      query: 'accountType=UNIFIED&accountType=SPOT',
    });
    expectDenied(await sandbox(raw), 'bybit', 'BAD_REQUEST');
  });

  it('a duplicated JSON member is refused, even when signed', async () => {
    const raw = bybitRequest(trader(), {
      method: 'POST',
      path: '/v5/order/create',
      body: '{"category":"spot","symbol":"BTCUSDT","symbol":"ETHUSDT","side":"Buy","orderType":"Market","qty":"1"}',
    });
    expectDenied(await sandbox(raw), 'bybit', 'BAD_REQUEST');
  });

  it('a stripped X-BAPI-SIGN is malformed', async () => {
    const raw = withBybitHeader(bybitBalance(trader()), 'x-bapi-sign', null);
    expectDenied(await sandbox(raw), 'bybit', 'SIGNATURE_MALFORMED');
  });

  it('an empty X-BAPI-SIGN is malformed', async () => {
    const raw = withBybitHeader(bybitBalance(trader()), 'x-bapi-sign', '');
    expectDenied(await sandbox(raw), 'bybit', 'SIGNATURE_MALFORMED');
  });

  it('upper-case hex verifies (the bytes are what count)', async () => {
    const raw = bybitBalance(trader());
    const upper = withBybitHeader(raw, 'x-bapi-sign', bybitSign(raw).toUpperCase());
    expect((await sandbox(upper)).json).toMatchObject({ retCode: 0 });
  });

  it.each([
    ['63 hex characters', (s: string) => s.slice(0, 63)],
    ['65 hex characters', (s: string) => `${s}0`],
    ['base64 instead of hex', (s: string) => Buffer.from(s, 'hex').toString('base64')],
  ])('a signature of %s is malformed', async (_name, mutate) => {
    const raw = bybitBalance(trader());
    const response = await sandbox(withBybitHeader(raw, 'x-bapi-sign', mutate(bybitSign(raw))));
    expectDenied(response, 'bybit', 'SIGNATURE_MALFORMED');
  });

  it('a signature with one hex digit changed does not verify', async () => {
    const raw = bybitBalance(trader());
    const s = bybitSign(raw);
    const flipped = `${s.slice(0, 10)}${s[10] === '0' ? '1' : '0'}${s.slice(11)}`;
    expectDenied(
      await sandbox(withBybitHeader(raw, 'x-bapi-sign', flipped)),
      'bybit',
      'SIGNATURE_INVALID',
    );
  });

  it('a timestamp in seconds is outside the window', async () => {
    const raw = bybitBalance(trader(), { timestampMs: Math.floor(now() / 1000) });
    expectDenied(await sandbox(raw), 'bybit', 'TIMESTAMP_OUTSIDE_WINDOW');
  });

  it('a timestamp older than X-BAPI-RECV-WINDOW is outside the window', async () => {
    const raw = bybitBalance(trader(), { timestampMs: now() - 3000, recvWindowMs: 1000 });
    expectDenied(await sandbox(raw), 'bybit', 'TIMESTAMP_OUTSIDE_WINDOW');
  });

  it('a timestamp more than 1000 ms ahead is outside the window', async () => {
    const raw = bybitBalance(trader(), { timestampMs: now() + 3000 });
    expectDenied(await sandbox(raw), 'bybit', 'TIMESTAMP_OUTSIDE_WINDOW');
  });

  it.each([60_001, 0])('X-BAPI-RECV-WINDOW %i is refused', async (recvWindowMs) => {
    const raw = bybitBalance(trader(), { recvWindowMs });
    expectDenied(await sandbox(raw), 'bybit', 'SIGNATURE_MALFORMED');
  });

  it('X-BAPI-RECV-WINDOW with a leading zero is refused', async () => {
    const raw = withBybitHeader(bybitBalance(trader()), 'x-bapi-recv-window', '05000');
    expectDenied(await sandbox(raw), 'bybit', 'SIGNATURE_MALFORMED');
  });

  it('a byte-identical replay inside the window is refused with the replay code', async () => {
    const raw = bybitBalance(trader());
    expect((await sandbox(raw)).json).toMatchObject({ retCode: 0 });
    expectDenied(await sandbox(raw), 'bybit', 'NONCE_REPLAYED');
  });

  it('the body is forwarded unchanged and every X-BAPI-* header is stripped', async () => {
    const client = bybitClient(gateway.productionUrl, gateway.keys.production);
    await client.privatePostV5OrderCreate({
      category: 'spot',
      symbol: 'BTCUSDT',
      side: 'Buy',
      orderType: 'Limit',
      qty: '0.001',
      price: '40000',
      orderLinkId: 'e2e-forward-2',
    });
    const forwarded = seen.find((s) => s.body.includes('e2e-forward-2'));
    expect(forwarded?.url).toBe('/v5/order/create');
    expect(JSON.parse(forwarded?.body ?? '{}')).toMatchObject({ orderLinkId: 'e2e-forward-2' });
    expect(Object.keys(forwarded?.headers ?? {}).filter((h) => h.startsWith('x-bapi-'))).toEqual(
      [],
    );
  });
});

// ---------------------------------------------------------------- OKX

function okxRequest(
  key: CliKey,
  request: { method: string; path: string; query?: string; body?: string },
  timestampMs = now(),
): RawRequest {
  const rawQuery = request.query ?? null;
  const body = request.body ?? '';
  const headers = signOkx(apiKey(key), {
    method: request.method,
    path: request.path,
    rawQuery,
    body,
    timestampMs,
  });
  return {
    method: request.method,
    target: rawQuery === null ? request.path : `${request.path}?${rawQuery}`,
    headers,
    body,
  };
}

const okxBalance = (key: CliKey, timestampMs?: number) =>
  okxRequest(
    key,
    { method: 'GET', path: '/api/v5/account/balance', query: 'ccy=BTC' },
    timestampMs,
  );

function withOkxHeader(raw: RawRequest, name: string, value: string | null): RawRequest {
  return withBybitHeader(raw, name, value);
}

const okxSign = (raw: RawRequest) => raw.headers?.['ok-access-sign'] ?? '';

/** Re-signs with a timestamp header written differently (seconds, no milliseconds …). */
function okxWithTimestampText(key: CliKey, timestampText: string): RawRequest {
  const prehash = `${timestampText}GET/api/v5/account/balance?ccy=BTC`;
  const sign = hmacSha256(Buffer.from(key.secret ?? ''), prehash).toString('base64');
  const raw = okxBalance(key);
  return withOkxHeader(
    withOkxHeader(raw, 'ok-access-timestamp', timestampText),
    'ok-access-sign',
    sign,
  );
}

describe('okx dialect attacks', () => {
  const trader = () => gateway.keys.trader;

  it('a well-formed signed request reaches the sandbox', async () => {
    expect((await sandbox(okxBalance(trader()))).json).toMatchObject({ code: '0' });
  });

  it('boundary shift: data in both the query and the body is refused', async () => {
    const raw = okxRequest(trader(), {
      method: 'POST',
      path: '/api/v5/trade/order',
      query: 'instId=BTC-USDT',
      body: '{"tdMode":"cash","side":"buy","ordType":"limit","px":"40000","sz":"0.001"}',
    });
    expectDenied(await sandbox(raw), 'okx', 'BAD_REQUEST');
  });

  it('a duplicated query parameter is refused, even when signed', async () => {
    const raw = okxRequest(trader(), {
      method: 'GET',
      path: '/api/v5/account/balance',
      query: 'ccy=BTC&ccy=ETH',
    });
    expectDenied(await sandbox(raw), 'okx', 'BAD_REQUEST');
  });

  it('a duplicated JSON member is refused, even when signed', async () => {
    const raw = okxRequest(trader(), {
      method: 'POST',
      path: '/api/v5/trade/order',
      body: '{"instId":"BTC-USDT","instId":"ETH-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"1"}',
    });
    expectDenied(await sandbox(raw), 'okx', 'BAD_REQUEST');
  });

  it('a stripped OK-ACCESS-SIGN is malformed', async () => {
    const raw = withOkxHeader(okxBalance(trader()), 'ok-access-sign', null);
    expectDenied(await sandbox(raw), 'okx', 'SIGNATURE_MALFORMED');
  });

  it('an empty OK-ACCESS-SIGN is malformed', async () => {
    const raw = withOkxHeader(okxBalance(trader()), 'ok-access-sign', '');
    expectDenied(await sandbox(raw), 'okx', 'SIGNATURE_MALFORMED');
  });

  it.each([
    ['unpadded base64', (s: string) => s.replace(/=+$/, '')],
    ['hex instead of base64', (s: string) => Buffer.from(s, 'base64').toString('hex')],
    ['a truncated value', (s: string) => s.slice(0, 40)],
  ])('a signature as %s is malformed', async (_name, mutate) => {
    const raw = okxBalance(trader());
    const response = await sandbox(withOkxHeader(raw, 'ok-access-sign', mutate(okxSign(raw))));
    expectDenied(response, 'okx', 'SIGNATURE_MALFORMED');
  });

  it('base64 is case-sensitive: a case-swapped signature does not verify', async () => {
    const raw = okxBalance(trader());
    const s = okxSign(raw);
    const i = s.search(/[A-Za-z]/);
    const c = s.charAt(i);
    const swapped = `${s.slice(0, i)}${c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()}${s.slice(i + 1)}`;
    expectDenied(
      await sandbox(withOkxHeader(raw, 'ok-access-sign', swapped)),
      'okx',
      'SIGNATURE_INVALID',
    );
  });

  it.each([
    ['epoch seconds', () => String(Math.floor(now() / 1000))],
    ['epoch milliseconds', () => String(now())],
    [
      'ISO-8601 without milliseconds',
      () => new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ],
  ])('a timestamp as %s is malformed', async (_name, text) => {
    expectDenied(
      await sandbox(okxWithTimestampText(trader(), text())),
      'okx',
      'SIGNATURE_MALFORMED',
    );
  });

  it('a timestamp 31 s old is outside the window', async () => {
    expectDenied(
      await sandbox(okxBalance(trader(), now() - 31_000)),
      'okx',
      'TIMESTAMP_OUTSIDE_WINDOW',
    );
  });

  it('a timestamp 10 s ahead is outside the window', async () => {
    expectDenied(
      await sandbox(okxBalance(trader(), now() + 10_000)),
      'okx',
      'TIMESTAMP_OUTSIDE_WINDOW',
    );
  });

  it('a byte-identical replay inside the window is refused with the replay code', async () => {
    const raw = okxBalance(trader());
    expect((await sandbox(raw)).json).toMatchObject({ code: '0' });
    expectDenied(await sandbox(raw), 'okx', 'NONCE_REPLAYED');
  });

  it('a wrong passphrase is PASSPHRASE_INVALID, rendered as OKX 50105', async () => {
    const raw = withOkxHeader(okxBalance(trader()), 'ok-access-passphrase', 'not-the-passphrase');
    const response = await sandbox(raw);
    expectDenied(response, 'okx', 'PASSPHRASE_INVALID');
    expect(response.json).toMatchObject({ code: '50105' });
  });

  it('a missing passphrase is PASSPHRASE_INVALID', async () => {
    const raw = withOkxHeader(okxBalance(trader()), 'ok-access-passphrase', null);
    expectDenied(await sandbox(raw), 'okx', 'PASSPHRASE_INVALID');
  });

  it('the body is forwarded unchanged and every OK-ACCESS-* header is stripped', async () => {
    const client = okxClient(gateway.productionUrl, gateway.keys.production);
    await client.privatePostTradeOrder({
      instId: 'BTC-USDT',
      tdMode: 'cash',
      side: 'buy',
      ordType: 'limit',
      px: '40000',
      sz: '0.001',
      clOrdId: 'e2eforward3',
    });
    const forwarded = seen.find((s) => s.body.includes('e2eforward3'));
    expect(forwarded?.url).toBe('/api/v5/trade/order');
    expect(JSON.parse(forwarded?.body ?? '{}')).toMatchObject({ clOrdId: 'e2eforward3' });
    expect(Object.keys(forwarded?.headers ?? {}).filter((h) => h.startsWith('ok-access-'))).toEqual(
      [],
    );
  });
});

// ---------------------------------------------------------------- every other pipeline rule

type Build = (key: CliKey) => RawRequest;

const BALANCE: Readonly<Record<Exclude<Dialect, 'native'>, Build>> = {
  binance: (key) => binanceAccount(key),
  bybit: (key) => bybitBalance(key),
  okx: (key) => okxBalance(key),
};
const ORDER: Readonly<Record<Exclude<Dialect, 'native'>, Build>> = {
  binance: (key) =>
    binanceRequest('POST', '/api/v3/order', key, {
      params: 'symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001',
      timestampMs: now(),
    }),
  bybit: (key) =>
    bybitRequest(key, {
      method: 'POST',
      path: '/v5/order/create',
      body: '{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"10"}',
    }),
  okx: (key) =>
    okxRequest(key, {
      method: 'POST',
      path: '/api/v5/trade/order',
      body: '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"10"}',
    }),
};

describe.each(['binance', 'bybit', 'okx'] as const)('%s: the pipeline rules', (dialect) => {
  const keys = () => gateway.keys;

  it('a production key on the sandbox listener is ENV_MISMATCH', async () => {
    expectDenied(await sandbox(BALANCE[dialect](keys().production)), dialect, 'ENV_MISMATCH');
  });

  it('a sandbox key on the production listener is ENV_MISMATCH', async () => {
    expectDenied(await production(BALANCE[dialect](keys().trader)), dialect, 'ENV_MISMATCH');
  });

  it('a read-only key placing an order is SCOPE_MISSING', async () => {
    expectDenied(await sandbox(ORDER[dialect](keys().reader)), dialect, 'SCOPE_MISSING');
  });

  it('an address outside the allowlist is IP_NOT_ALLOWED, whatever X-Forwarded-For says', async () => {
    const raw = BALANCE[dialect](keys().elsewhere);
    const spoofed = { ...raw, headers: { ...raw.headers, 'x-forwarded-for': '10.1.2.3' } };
    expectDenied(await sandbox(spoofed), dialect, 'IP_NOT_ALLOWED');
  });

  it('a revoked key is KEY_REVOKED', async () => {
    expectDenied(await sandbox(BALANCE[dialect](keys().revoked)), dialect, 'KEY_REVOKED');
  });

  it('an expired key is KEY_EXPIRED', async () => {
    await waitUntilExpired(gateway.server, keys().shortLived.id);
    expectDenied(await sandbox(BALANCE[dialect](keys().shortLived)), dialect, 'KEY_EXPIRED');
  });

  it('an unknown key id answers exactly like a bad signature', async () => {
    const unknown: CliKey = { ...keys().trader, id: 'pk_test_doesnotexist00000' };
    expectDenied(await sandbox(BALANCE[dialect](unknown)), dialect, 'SIGNATURE_INVALID');
  });

  it('a key used in another dialect a moment earlier still works here', async () => {
    const response = await sandbox(BALANCE[dialect](keys().trader));
    expect(response.status).toBe(200);
  });
});
