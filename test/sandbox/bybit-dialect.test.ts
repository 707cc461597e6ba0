import { describe, expect, it } from 'vitest';
import { FIXED_NOW_MS, createHarness, json, nativeBalances } from './sandbox-harness.js';

// The body ccxt sent in exchange-signing.md §4.4.
const LINEAR_LIMIT = {
  category: 'linear',
  symbol: 'BTCUSDT',
  side: 'Buy',
  orderType: 'Limit',
  qty: '0.01',
  price: '45000',
};

describe('Bybit v5 dialect', () => {
  it('answers GET /v5/market/time in the v5 envelope', async () => {
    const response = await createHarness().call({ method: 'GET', url: '/v5/market/time' });
    expect(json(response)).toEqual({
      retCode: 0,
      retMsg: 'OK',
      result: { timeSecond: '1700000000', timeNano: '1700000000000000000' },
      retExtInfo: {},
      time: FIXED_NOW_MS,
    });
  });

  it('answers the wallet balance as list[].coin[] filtered by coin', async () => {
    const response = await createHarness().call({
      method: 'GET',
      url: '/v5/account/wallet-balance?accountType=UNIFIED&coin=BTC',
    });
    const body = json(response);
    expect(body.retCode).toBe(0);
    expect(body.result.list[0].accountType).toBe('UNIFIED');
    expect(body.result.list[0].coin).toHaveLength(1);
    expect(body.result.list[0].coin[0]).toMatchObject({ coin: 'BTC', walletBalance: '2' });
  });

  it('creates an order and answers its orderId and orderLinkId', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/v5/order/create',
      payload: { ...LINEAR_LIMIT, orderLinkId: 'link-1' },
    });
    expect(json(response)).toMatchObject({
      retCode: 0,
      retMsg: 'OK',
      result: { orderId: '1', orderLinkId: 'link-1' },
      retExtInfo: {},
    });
  });

  it('counts a spot market buy qty in the quote coin', async () => {
    const harness = createHarness();
    await harness.call({
      method: 'POST',
      url: '/v5/order/create',
      payload: {
        category: 'spot',
        symbol: 'BTCUSDT',
        side: 'Buy',
        orderType: 'Market',
        qty: '500',
      },
    });
    expect((await nativeBalances(harness)).BTC?.free).toBe('2.01');
  });

  it('cancels by orderLinkId', async () => {
    const harness = createHarness();
    await harness.call({
      method: 'POST',
      url: '/v5/order/create',
      payload: { ...LINEAR_LIMIT, orderLinkId: 'link-2' },
    });
    const response = await harness.call({
      method: 'POST',
      url: '/v5/order/cancel',
      payload: { category: 'linear', symbol: 'BTCUSDT', orderLinkId: 'link-2' },
    });
    expect(json(response).result).toEqual({ orderId: '1', orderLinkId: 'link-2' });
  });

  it('answers retCode 110001 for an unknown order', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/v5/order/cancel',
      payload: { category: 'spot', symbol: 'BTCUSDT', orderId: '42' },
    });
    expect(json(response).retCode).toBe(110001);
  });

  it('answers retCode 110007 for insufficient balance', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/v5/order/create',
      payload: { ...LINEAR_LIMIT, qty: '100' },
    });
    expect(response.statusCode).toBe(400);
    expect(json(response).retCode).toBe(110007);
  });

  it.each([
    ['a missing accountType', 'GET', '/v5/account/wallet-balance', undefined],
    ['an unknown category', 'POST', '/v5/order/create', { ...LINEAR_LIMIT, category: 'option' }],
    ['a numeric qty', 'POST', '/v5/order/create', { ...LINEAR_LIMIT, qty: 0.01 }],
    ['an unknown field', 'POST', '/v5/order/create', { ...LINEAR_LIMIT, leverage: '10' }],
    ['a JSON array body', 'POST', '/v5/order/create', [LINEAR_LIMIT]],
  ] as const)('answers retCode 10001 for %s', async (_case, method, url, payload) => {
    const response = await createHarness().call({
      method,
      url,
      ...(payload === undefined ? {} : { payload }),
    });
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ retCode: 10001, result: {}, retExtInfo: {} });
  });
});
