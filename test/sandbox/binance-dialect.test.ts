import { describe, expect, it } from 'vitest';
import {
  FIXED_NOW_MS,
  createHarness,
  json,
  nativeBalances,
  type Harness,
} from './sandbox-harness.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
// As ccxt sends it (exchange-signing.md §4.4): signing params stay in the body.
const SIGNED = 'timestamp=1700000000000&recvWindow=10000&signature=abc123';

function postOrder(harness: Harness, params: string) {
  return harness.call({
    method: 'POST',
    url: '/api/v3/order',
    headers: FORM,
    payload: `${params}&${SIGNED}`,
  });
}

describe('Binance dialect', () => {
  it('answers GET /api/v3/time with serverTime', async () => {
    const response = await createHarness().call({ method: 'GET', url: '/api/v3/time' });
    expect(json(response)).toEqual({ serverTime: FIXED_NOW_MS });
  });

  it('answers GET /api/v3/account with Binance balances and permissions', async () => {
    const response = await createHarness().call({
      method: 'GET',
      url: `/api/v3/account?${SIGNED}`,
    });
    const body = json(response);
    expect(body).toMatchObject({ canTrade: true, canWithdraw: true, accountType: 'SPOT' });
    expect(body.balances).toContainEqual({
      asset: 'BTC',
      free: '2.00000000',
      locked: '0.00000000',
    });
  });

  it('places a limit order from a form body and answers the FULL order object', async () => {
    const harness = createHarness();
    const response = await postOrder(
      harness,
      'symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=40000&newClientOrderId=test1',
    );
    expect(response.statusCode).toBe(200);
    expect(json(response)).toMatchObject({
      symbol: 'BTCUSDT',
      orderId: 1,
      orderListId: -1,
      clientOrderId: 'test1',
      transactTime: FIXED_NOW_MS,
      price: '40000.00000000',
      origQty: '0.10000000',
      executedQty: '0.00000000',
      status: 'NEW',
      type: 'LIMIT',
      side: 'BUY',
      fills: [],
    });
  });

  it('takes order params from the query string as well', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: `/api/v3/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1&${SIGNED}`,
    });
    expect(json(response)).toMatchObject({ status: 'FILLED', executedQty: '0.10000000' });
  });

  it('fills a MARKET order with one fill at the reference price', async () => {
    const response = await postOrder(
      createHarness(),
      'symbol=BTCUSDT&side=SELL&type=MARKET&quantity=1',
    );
    expect(json(response).fills).toEqual([
      {
        price: '50000.00000000',
        qty: '1.00000000',
        commission: '0.00000000',
        commissionAsset: 'USDT',
        tradeId: 1,
      },
    ]);
  });

  it('spends a quoteOrderQty on a MARKET buy', async () => {
    const harness = createHarness();
    await postOrder(harness, 'symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=5000');
    expect((await nativeBalances(harness)).BTC?.free).toBe('2.1');
  });

  it('lists open orders as an array', async () => {
    const harness = createHarness();
    await postOrder(harness, 'symbol=BTCUSDT&side=SELL&type=LIMIT&quantity=1&price=60000');
    const response = await harness.call({
      method: 'GET',
      url: `/api/v3/openOrders?symbol=BTCUSDT&${SIGNED}`,
    });
    expect(json(response)).toHaveLength(1);
    expect(json(response)[0]).toMatchObject({ orderId: 1, status: 'NEW', isWorking: true });
  });

  it('cancels by origClientOrderId with params in the query string', async () => {
    const harness = createHarness();
    await postOrder(
      harness,
      'symbol=BTCUSDT&side=SELL&type=LIMIT&quantity=1&price=60000&newClientOrderId=c1',
    );
    const response = await harness.call({
      method: 'DELETE',
      url: `/api/v3/order?symbol=BTCUSDT&origClientOrderId=c1&${SIGNED}`,
    });
    expect(json(response)).toMatchObject({
      orderId: 1,
      origClientOrderId: 'c1',
      status: 'CANCELED',
    });
    expect((await nativeBalances(harness)).BTC).toEqual({ free: '2', locked: '0' });
  });

  it('answers -2011 for an unknown order on cancel', async () => {
    const response = await createHarness().call({
      method: 'DELETE',
      url: `/api/v3/order?symbol=BTCUSDT&orderId=99&${SIGNED}`,
    });
    expect(response.statusCode).toBe(400);
    expect(json(response).code).toBe(-2011);
  });

  it('answers -2010 with the Binance message for insufficient balance', async () => {
    const response = await postOrder(
      createHarness(),
      'symbol=BTCUSDT&side=SELL&type=MARKET&quantity=5',
    );
    expect(response.statusCode).toBe(400);
    expect(json(response)).toEqual({
      code: -2010,
      msg: 'Account has insufficient balance for requested action.',
    });
  });

  it('returns the original order for a repeated newClientOrderId', async () => {
    const harness = createHarness();
    const params = 'symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1&newClientOrderId=dup1';
    const first = await postOrder(harness, params);
    const second = await postOrder(harness, params);
    expect(json(second)).toEqual(json(first));
    expect((await nativeBalances(harness)).BTC?.free).toBe('2.1');
  });

  it.each([
    ['a missing symbol', 'side=BUY&type=MARKET&quantity=1', -1102],
    ['an unknown symbol', 'symbol=DOGEUSDT&side=BUY&type=MARKET&quantity=1', -1121],
    ['a bad side', 'symbol=BTCUSDT&side=HOLD&type=MARKET&quantity=1', -1117],
    ['a bad type', 'symbol=BTCUSDT&side=BUY&type=STOP&quantity=1', -1116],
    [
      'a bad timeInForce',
      'symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=1&timeInForce=X',
      -1115,
    ],
    ['a malformed quantity', 'symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1e3', -1100],
    ['too many decimals', 'symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.000000001', -1111],
    ['a price on a MARKET order', 'symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&price=1', -1106],
    ['an unknown parameter', 'symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&foo=1', -1104],
    [
      'a duplicate parameter',
      'symbol=BTCUSDT&symbol=ETHUSDT&side=BUY&type=MARKET&quantity=1',
      -1101,
    ],
    ['bad percent-encoding', 'symbol=%E0%A4%A&side=BUY&type=MARKET&quantity=1', -1100],
  ])('answers 400 for %s', async (_case, params, code) => {
    const response = await postOrder(createHarness(), params);
    expect(response.statusCode).toBe(400);
    expect(json(response).code).toBe(code);
  });

  it('refuses a parameter sent in both the query string and the body', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v3/order?symbol=BTCUSDT',
      headers: FORM,
      payload: 'symbol=ETHUSDT&side=BUY&type=MARKET&quantity=1',
    });
    expect(json(response).code).toBe(-1101);
  });

  it('refuses a JSON body', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v3/order',
      payload: { symbol: 'BTCUSDT' },
    });
    expect(response.statusCode).toBe(415);
    expect(json(response).code).toBe(-1102);
  });
});
