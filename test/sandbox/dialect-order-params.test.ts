/**
 * The default routes' parameter extractors give policies and spend allowances the same order
 * parameters whatever dialect the client speaks (docs/policies.md §2.1): lower-case side and
 * order type, quantity in the base asset, notional = quantity × price, or the quote amount of a
 * market order sized in the quote asset (which then has no quantity). Run through the policy
 * step, which parses the query and body exactly as the data plane forwards them.
 */
import { describe, expect, it } from 'vitest';
import { compileRouteExtractors, DEFAULT_ROUTES } from '../../src/app/data-planes.js';
import type { ApiKey } from '../../src/core/keys/model.js';
import { compileRules } from '../../src/core/policy/index.js';
import { createPolicyStep } from '../../src/core/policy/policy-step.js';
import type { SandboxDialect } from '../../src/sandbox/routes.js';

const step = createPolicyStep({
  environment: 'sandbox',
  snapshot: () => compileRules([]),
  extractors: compileRouteExtractors(DEFAULT_ROUTES),
});
const KEY = { id: 'pk_test_1', accountId: 'acc_1', scopes: ['trade'], createdAt: 0 } as unknown;

/** What the step extracts from an order placed in `dialect` (query and body as forwarded). */
function extracted(dialect: SandboxDialect, parts: { query?: string; body?: string }) {
  const route = DEFAULT_ROUTES.find((r) => r.dialect === dialect && r.action === 'order.place');
  if (route === undefined) throw new Error(`no ${dialect} order route`);
  const result = step.check({
    key: KEY as ApiKey,
    route,
    pathParams: {},
    method: route.method,
    path: route.path,
    clientIp: '127.0.0.1',
    nowMs: 0,
    query: parts.query ?? null,
    body: Buffer.from(parts.body ?? ''),
  });
  if (result.outcome !== 'allow') throw new Error(`refused: ${JSON.stringify(result)}`);
  return { params: result.params, decimals: result.decimals };
}

const LIMIT_BUY = {
  params: {
    symbol: 'BTCUSDT',
    side: 'buy',
    orderType: 'limit',
    quantity: 0.001,
    price: 40000,
    notional: 40,
  },
  decimals: { quantity: '0.001', price: '40000' },
};
const BINANCE_LIMIT =
  'symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=40000&timestamp=1&recvWindow=5000';

describe('order parameters in every dialect', () => {
  it('native, binance (form body and query), bybit and okx limit buys read the same', () => {
    expect(
      extracted('native', {
        body: '{"symbol":"BTCUSDT","side":"buy","type":"limit","quantity":"0.001","price":"40000"}',
      }),
    ).toEqual(LIMIT_BUY);
    expect(extracted('binance', { body: BINANCE_LIMIT })).toEqual(LIMIT_BUY);
    expect(extracted('binance', { query: BINANCE_LIMIT })).toEqual(LIMIT_BUY);
    expect(
      extracted('bybit', {
        body: '{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"40000"}',
      }),
    ).toEqual(LIMIT_BUY);
    expect(
      extracted('okx', {
        body: '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"0.001","px":"40000"}',
      }),
    ).toEqual({ ...LIMIT_BUY, params: { ...LIMIT_BUY.params, symbol: 'BTC-USDT' } });
  });

  it('a market order sized in the quote asset has a notional and no quantity', () => {
    const quote = (symbol: string, side = 'buy') => ({
      params: { symbol, side, orderType: 'market', notional: 100.5 },
      decimals: { notional: '100.5' },
    });
    expect(
      extracted('binance', { body: 'symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=100.5' }),
    ).toEqual(quote('BTCUSDT'));
    expect(
      extracted('bybit', {
        body: '{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"100.5"}',
      }),
    ).toEqual(quote('BTCUSDT'));
    expect(
      extracted('bybit', {
        body: '{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"100.5","marketUnit":"quoteCoin"}',
      }),
    ).toEqual(quote('BTCUSDT', 'sell'));
    expect(
      extracted('okx', {
        body: '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"100.5"}',
      }),
    ).toEqual(quote('BTC-USDT'));
  });

  it('a market order sized in the base asset has a quantity and no notional', () => {
    const base = (symbol: string, side: string) => ({
      params: { symbol, side, orderType: 'market', quantity: 0.5 },
      decimals: { quantity: '0.5' },
    });
    expect(
      extracted('binance', { query: 'symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.5' }),
    ).toEqual(base('BTCUSDT', 'sell'));
    expect(
      extracted('bybit', {
        body: '{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"0.5"}',
      }),
    ).toEqual(base('BTCUSDT', 'sell'));
    expect(
      extracted('bybit', {
        body: '{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.5","marketUnit":"baseCoin"}',
      }),
    ).toEqual(base('BTCUSDT', 'buy'));
    expect(
      extracted('bybit', {
        body: '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.5"}',
      }),
    ).toEqual(base('BTCUSDT', 'buy'));
    expect(
      extracted('okx', {
        body: '{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"market","sz":"0.5"}',
      }),
    ).toEqual(base('BTC-USDT', 'sell'));
    expect(
      extracted('okx', {
        body: '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"0.5","tgtCcy":"base_ccy"}',
      }),
    ).toEqual(base('BTC-USDT', 'buy'));
  });

  it('an amount that is not a plain decimal is refused BAD_REQUEST, in every dialect', () => {
    const route = (dialect: SandboxDialect) =>
      DEFAULT_ROUTES.find((r) => r.dialect === dialect && r.action === 'order.place');
    const check = (dialect: SandboxDialect, parts: { query?: string; body?: string }) =>
      step.check({
        key: KEY as ApiKey,
        route: route(dialect) ?? DEFAULT_ROUTES[0]!,
        pathParams: {},
        method: 'POST',
        path: '/',
        clientIp: '127.0.0.1',
        nowMs: 0,
        query: parts.query ?? null,
        body: Buffer.from(parts.body ?? ''),
      });
    const refused = { outcome: 'deny', reason: 'BAD_REQUEST' };
    expect(
      check('binance', { body: 'symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1e3&price=1' }),
    ).toEqual(refused);
    expect(
      check('bybit', {
        body: '{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"-1","price":"1"}',
      }),
    ).toEqual(refused);
    expect(
      check('okx', {
        body: '{"instId":"BTC-USDT","side":"buy","ordType":"limit","sz":"0.1","px":"0x10"}',
      }),
    ).toEqual(refused);
  });
});
