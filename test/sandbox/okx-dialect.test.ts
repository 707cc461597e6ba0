import { describe, expect, it } from 'vitest';
import { createHarness, json, nativeBalances } from './sandbox-harness.js';

// The body ccxt sent in exchange-signing.md §4.4.
const LIMIT_BUY = {
  instId: 'BTC-USDT',
  tdMode: 'cash',
  side: 'buy',
  ordType: 'limit',
  px: '1000',
  sz: '0.01',
  clOrdId: 'test1',
};

describe('OKX v5 dialect', () => {
  it('answers GET /api/v5/public/time in the v5 envelope', async () => {
    const response = await createHarness().call({ method: 'GET', url: '/api/v5/public/time' });
    expect(json(response)).toEqual({ code: '0', msg: '', data: [{ ts: '1700000000000' }] });
  });

  it('answers the balance as data[].details[] filtered by ccy', async () => {
    const response = await createHarness().call({
      method: 'GET',
      url: '/api/v5/account/balance?ccy=BTC,ETH',
    });
    const body = json(response);
    expect(body.code).toBe('0');
    expect(body.data[0].details.map((detail: { ccy: string }) => detail.ccy)).toEqual([
      'BTC',
      'ETH',
    ]);
    expect(body.data[0].details[0]).toMatchObject({ availBal: '2', frozenBal: '0' });
  });

  it('places an order and answers ordId, clOrdId and sCode 0', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v5/trade/order',
      payload: LIMIT_BUY,
    });
    expect(json(response)).toEqual({
      code: '0',
      msg: '',
      data: [
        {
          ordId: '1',
          clOrdId: 'test1',
          tag: '',
          ts: '1700000000000',
          sCode: '0',
          sMsg: 'Order placed',
        },
      ],
    });
  });

  it('counts a market buy sz in the quote currency by default', async () => {
    const harness = createHarness();
    const payload = {
      instId: 'BTC-USDT',
      tdMode: 'cash',
      side: 'buy',
      ordType: 'market',
      sz: '500',
    };
    await harness.call({ method: 'POST', url: '/api/v5/trade/order', payload });
    expect((await nativeBalances(harness)).BTC?.free).toBe('2.01');
  });

  it('cancels by clOrdId', async () => {
    const harness = createHarness();
    await harness.call({ method: 'POST', url: '/api/v5/trade/order', payload: LIMIT_BUY });
    const response = await harness.call({
      method: 'POST',
      url: '/api/v5/trade/cancel-order',
      payload: { instId: 'BTC-USDT', clOrdId: 'test1' },
    });
    expect(json(response).data[0]).toMatchObject({ ordId: '1', clOrdId: 'test1', sCode: '0' });
  });

  it('answers code 1 with sCode 51008 for insufficient balance', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v5/trade/order',
      payload: { ...LIMIT_BUY, sz: '1000' },
    });
    const body = json(response);
    expect(body.code).toBe('1');
    expect(body.data[0]).toMatchObject({ clOrdId: 'test1', sCode: '51008' });
  });

  it('answers code 1 with sCode 51400 for an unknown order', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v5/trade/cancel-order',
      payload: { instId: 'BTC-USDT', ordId: '7' },
    });
    expect(json(response).data[0]).toMatchObject({ ordId: '7', sCode: '51400' });
  });

  it.each([
    ['a missing instId', { ...LIMIT_BUY, instId: undefined }, '50014'],
    ['an unknown instId', { ...LIMIT_BUY, instId: 'FOO-BAR' }, '51001'],
    ['a margin trade mode', { ...LIMIT_BUY, tdMode: 'cross' }, '51000'],
    ['a negative size', { ...LIMIT_BUY, sz: '-1' }, '51000'],
    ['an over-long clOrdId', { ...LIMIT_BUY, clOrdId: 'x'.repeat(37) }, '51000'],
  ])('answers 400 for %s', async (_case, payload, code) => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v5/trade/order',
      payload,
    });
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ code, data: [] });
  });

  it('answers 50002 for malformed JSON', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v5/trade/order',
      headers: { 'content-type': 'application/json' },
      payload: '{"instId":',
    });
    expect(json(response).code).toBe('50002');
  });
});
