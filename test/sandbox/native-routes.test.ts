import { describe, expect, it } from 'vitest';
import { FIXED_NOW_MS, createHarness, json, nativeBalances } from './sandbox-harness.js';

const limitBuy = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: '0.1', price: '40000' };
const marketBuy = { symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: '0.1' };

describe('native sandbox routes', () => {
  it('seeds a new account with the default balances', async () => {
    const balances = await nativeBalances(createHarness());
    expect(balances).toEqual({
      BTC: { free: '2', locked: '0' },
      ETH: { free: '50', locked: '0' },
      USDT: { free: '100000', locked: '0' },
    });
  });

  it('seeds from the configured seed balances', async () => {
    const harness = createHarness({ seedBalances: { USDT: '10', SOL: '3.5' } });
    expect(await nativeBalances(harness)).toEqual({
      SOL: { free: '3.5', locked: '0' },
      USDT: { free: '10', locked: '0' },
    });
  });

  it('keeps a separate ledger per account', async () => {
    const harness = createHarness();
    await harness.call({ method: 'POST', url: '/api/v1/orders', payload: marketBuy });
    expect((await nativeBalances(harness, 'acc_2')).USDT).toEqual({
      free: '100000',
      locked: '0',
    });
  });

  it('keeps a separate ledger per instance', async () => {
    const first = createHarness();
    await first.call({ method: 'POST', url: '/api/v1/orders', payload: marketBuy });
    expect((await nativeBalances(createHarness())).USDT?.free).toBe('100000');
  });

  it('rests a non-marketable limit order and locks its cost', async () => {
    const harness = createHarness();
    const placed = await harness.call({ method: 'POST', url: '/api/v1/orders', payload: limitBuy });
    expect(placed.statusCode).toBe(201);
    expect(json(placed)).toMatchObject({ id: 'ord_1', status: 'open', filledQuantity: '0' });
    expect((await nativeBalances(harness)).USDT).toEqual({ free: '96000', locked: '4000' });
  });

  it('lists open orders, filtered by symbol in either spelling', async () => {
    const harness = createHarness();
    await harness.call({ method: 'POST', url: '/api/v1/orders', payload: limitBuy });
    const listed = await harness.call({ method: 'GET', url: '/api/v1/orders?symbol=BTC-USDT' });
    const other = await harness.call({ method: 'GET', url: '/api/v1/orders?symbol=ETHUSDT' });
    expect(json(listed).orders.map((order: { id: string }) => order.id)).toEqual(['ord_1']);
    expect(json(other).orders).toEqual([]);
  });

  it('cancels a resting order and releases the lock', async () => {
    const harness = createHarness();
    await harness.call({ method: 'POST', url: '/api/v1/orders', payload: limitBuy });
    const canceled = await harness.call({ method: 'DELETE', url: '/api/v1/orders/ord_1' });
    expect(json(canceled).status).toBe('canceled');
    expect((await nativeBalances(harness)).USDT).toEqual({ free: '100000', locked: '0' });
  });

  it('refuses to cancel an order twice', async () => {
    const harness = createHarness();
    await harness.call({ method: 'POST', url: '/api/v1/orders', payload: limitBuy });
    await harness.call({ method: 'DELETE', url: '/api/v1/orders/ord_1' });
    const again = await harness.call({ method: 'DELETE', url: '/api/v1/orders/ord_1' });
    expect(again.statusCode).toBe(409);
    expect(json(again).error.code).toBe('ORDER_NOT_OPEN');
  });

  it("reports another account's order as not found", async () => {
    const harness = createHarness();
    await harness.call({ method: 'POST', url: '/api/v1/orders', payload: limitBuy });
    const response = await harness.call({
      method: 'DELETE',
      url: '/api/v1/orders/ord_1',
      account: 'acc_2',
    });
    expect(response.statusCode).toBe(404);
    expect(json(response).error.code).toBe('ORDER_NOT_FOUND');
  });

  it('fills a market order at the reference price and moves balances', async () => {
    const harness = createHarness();
    const placed = await harness.call({
      method: 'POST',
      url: '/api/v1/orders',
      payload: marketBuy,
    });
    expect(json(placed)).toMatchObject({ status: 'filled', averagePrice: '50000' });
    const balances = await nativeBalances(harness);
    expect(balances.USDT?.free).toBe('95000');
    expect(balances.BTC?.free).toBe('2.1');
  });

  it('fills a marketable limit sell at the reference price', async () => {
    const harness = createHarness();
    const payload = { ...limitBuy, side: 'sell', quantity: '1', price: '45000' };
    const placed = await harness.call({ method: 'POST', url: '/api/v1/orders', payload });
    expect(json(placed).status).toBe('filled');
    expect((await nativeBalances(harness)).USDT?.free).toBe('150000');
  });

  it('expires an IOC limit order that is not marketable', async () => {
    const harness = createHarness();
    const payload = { ...limitBuy, timeInForce: 'IOC' };
    const placed = await harness.call({ method: 'POST', url: '/api/v1/orders', payload });
    expect(json(placed).status).toBe('expired');
    expect((await nativeBalances(harness)).USDT).toEqual({ free: '100000', locked: '0' });
  });

  it('refuses an order the balance does not cover', async () => {
    const harness = createHarness();
    const payload = { ...marketBuy, quantity: '3' };
    const response = await harness.call({ method: 'POST', url: '/api/v1/orders', payload });
    expect(response.statusCode).toBe(400);
    expect(json(response).error.code).toBe('INSUFFICIENT_BALANCE');
    expect((await nativeBalances(harness)).USDT?.free).toBe('100000');
  });

  it('returns the original order for a repeated clientOrderId without filling twice', async () => {
    const harness = createHarness();
    const payload = { ...marketBuy, clientOrderId: 'my-order-1' };
    const first = await harness.call({ method: 'POST', url: '/api/v1/orders', payload });
    const second = await harness.call({ method: 'POST', url: '/api/v1/orders', payload });
    expect(second.statusCode).toBe(200);
    expect(json(second)).toEqual(json(first));
    expect((await nativeBalances(harness)).BTC?.free).toBe('2.1');
  });

  it('scopes clientOrderId idempotency to the account', async () => {
    const harness = createHarness();
    const payload = { ...marketBuy, clientOrderId: 'shared-id' };
    await harness.call({ method: 'POST', url: '/api/v1/orders', payload });
    const other = await harness.call({
      method: 'POST',
      url: '/api/v1/orders',
      payload,
      account: 'acc_2',
    });
    expect(other.statusCode).toBe(201);
    expect(json(other).id).toBe('ord_2');
  });

  it('debits the balance for a withdrawal and returns its id and status', async () => {
    const harness = createHarness();
    const response = await harness.call({
      method: 'POST',
      url: '/api/v1/withdrawals',
      payload: { asset: 'BTC', amount: '0.5', address: 'bc1qexampleaddress' },
    });
    expect(response.statusCode).toBe(201);
    expect(json(response)).toMatchObject({ id: 'wd_1', status: 'completed', amount: '0.5' });
    expect((await nativeBalances(harness)).BTC?.free).toBe('1.5');
  });

  it('refuses a withdrawal above the free balance', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v1/withdrawals',
      payload: { asset: 'BTC', amount: '2.00000001', address: 'bc1qexampleaddress' },
    });
    expect(json(response).error.code).toBe('INSUFFICIENT_BALANCE');
  });

  it('describes the calling account from the identity headers', async () => {
    const response = await createHarness().call({ method: 'GET', url: '/api/v1/account' });
    expect(json(response)).toEqual({
      accountId: 'acc_1',
      keyId: 'pk_test_abc',
      scopes: ['read', 'trade', 'withdraw'],
      canTrade: true,
      canWithdraw: true,
      createdAt: FIXED_NOW_MS,
    });
  });

  it('answers the server time from the injected clock', async () => {
    const response = await createHarness().call({ method: 'GET', url: '/api/v1/time' });
    expect(json(response)).toEqual({ serverTime: FIXED_NOW_MS });
  });

  it('answers health without identity', async () => {
    const response = await createHarness().call({ method: 'GET', url: '/health', account: null });
    expect(response.statusCode).toBe(200);
  });

  it('echoes the request id header', async () => {
    const response = await createHarness().call({ method: 'GET', url: '/health' });
    expect(response.headers['x-request-id']).toBe('req_test');
  });
});
