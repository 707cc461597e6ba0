/**
 * The bound on resting orders (src/sandbox/ledger.ts MAX_OPEN_ORDERS_PER_MARKET) as each dialect
 * answers it: the sandbox runs in the gateway's process and never forgets an open order, so one
 * account must not be able to rest orders without end. Each dialect refuses the order past the
 * bound with its exchange's own rejection (ccxt raises InvalidOrder for all three), a marketable
 * order still fills, and a cancel makes room again.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { MAX_OPEN_ORDERS_PER_MARKET } from '../../src/sandbox/ledger.js';
import { createHarness, json, MARKET_BUY, RESTING_BUY, type Harness } from './sandbox-harness.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const SIGNED = 'timestamp=1700000000000&recvWindow=10000&signature=abc123';

interface Dialect {
  readonly name: string;
  /** A limit buy far below the BTC/USDT reference price (it rests), numbered `i`. */
  resting(i: number): InjectOptions;
  /** A market buy of BTC/USDT (it fills at once). */
  marketable(): InjectOptions;
  /** Cancels resting order `i`. */
  cancel(i: number): InjectOptions;
  /** Whether the answer is an accepted order. */
  accepted(response: LightMyRequestResponse): boolean;
  /** The refusal past the bound, as the exchange sends it. */
  readonly refusal: { readonly status: number; readonly body: unknown };
}

const form = (params: Record<string, string>) =>
  `${new URLSearchParams(params).toString()}&${SIGNED}`;

const DIALECTS: readonly Dialect[] = [
  {
    name: 'native',
    resting: (i) => ({
      method: 'POST',
      url: '/api/v1/orders',
      payload: { ...RESTING_BUY.native, clientOrderId: `n${i}` },
    }),
    marketable: () => ({ method: 'POST', url: '/api/v1/orders', payload: MARKET_BUY.native }),
    cancel: (i) => ({ method: 'DELETE', url: `/api/v1/orders/ord_${i + 1}` }),
    accepted: (response) => response.statusCode === 201 || response.statusCode === 200,
    refusal: {
      status: 400,
      body: {
        error: {
          code: 'TOO_MANY_OPEN_ORDERS',
          message: 'the account has the most open orders allowed in this market',
          requestId: 'req_test',
        },
      },
    },
  },
  {
    name: 'binance',
    resting: (i) => ({
      method: 'POST',
      url: '/api/v3/order',
      headers: FORM,
      payload: form({ ...RESTING_BUY.binance, newClientOrderId: `b${i}` }),
    }),
    marketable: () => ({
      method: 'POST',
      url: '/api/v3/order',
      headers: FORM,
      payload: form(MARKET_BUY.binance),
    }),
    cancel: (i) => ({
      method: 'DELETE',
      url: `/api/v3/order?${form({ symbol: 'BTCUSDT', origClientOrderId: `b${i}` })}`,
    }),
    accepted: (response) => response.statusCode === 200,
    refusal: { status: 400, body: { code: -2010, msg: 'Filter failure: MAX_NUM_ORDERS' } },
  },
  {
    name: 'bybit',
    resting: (i) => ({
      method: 'POST',
      url: '/v5/order/create',
      payload: { ...RESTING_BUY.bybit, orderLinkId: `y${i}` },
    }),
    marketable: () => ({ method: 'POST', url: '/v5/order/create', payload: MARKET_BUY.bybit }),
    cancel: (i) => ({
      method: 'POST',
      url: '/v5/order/cancel',
      payload: { category: 'spot', symbol: 'BTCUSDT', orderLinkId: `y${i}` },
    }),
    accepted: (response) => json(response).retCode === 0,
    refusal: {
      status: 400,
      body: {
        retCode: 110020,
        retMsg: `Not allowed to have more than ${MAX_OPEN_ORDERS_PER_MARKET} active orders.`,
      },
    },
  },
  {
    name: 'okx',
    resting: (i) => ({
      method: 'POST',
      url: '/api/v5/trade/order',
      payload: { ...RESTING_BUY.okx, clOrdId: `o${i}` },
    }),
    marketable: () => ({ method: 'POST', url: '/api/v5/trade/order', payload: MARKET_BUY.okx }),
    cancel: (i) => ({
      method: 'POST',
      url: '/api/v5/trade/cancel-order',
      payload: { instId: 'BTC-USDT', clOrdId: `o${i}` },
    }),
    accepted: (response) => json(response).code === '0',
    refusal: {
      status: 400,
      body: {
        code: '1',
        msg: 'Operation failed.',
        data: [
          {
            clOrdId: `o${MAX_OPEN_ORDERS_PER_MARKET}`,
            sCode: '51174',
            sMsg: `The number of pending orders reached the upper limit of ${MAX_OPEN_ORDERS_PER_MARKET} (orders).`,
          },
        ],
      },
    },
  },
];

async function restUpToTheBound(harness: Harness, dialect: Dialect): Promise<void> {
  for (let i = 0; i < MAX_OPEN_ORDERS_PER_MARKET; i++) {
    const response = await harness.call(dialect.resting(i));
    if (!dialect.accepted(response)) throw new Error(`order ${i}: ${response.body}`);
  }
}

describe.each(DIALECTS)('the open-order bound in the $name dialect', (dialect) => {
  it(`refuses a resting order past ${MAX_OPEN_ORDERS_PER_MARKET} with the exchange's rejection`, async () => {
    const harness = createHarness();
    await restUpToTheBound(harness, dialect);
    const refused = await harness.call(dialect.resting(MAX_OPEN_ORDERS_PER_MARKET));
    expect(refused.statusCode).toBe(dialect.refusal.status);
    expect(json(refused)).toMatchObject(dialect.refusal.body as object);
    // Nothing was placed: the open orders are still exactly the bound.
    const open = await harness.call({ method: 'GET', url: '/api/v1/orders?symbol=BTCUSDT' });
    expect(json(open).orders).toHaveLength(MAX_OPEN_ORDERS_PER_MARKET);
  });

  it('still fills a marketable order at the bound, and a cancel makes room', async () => {
    const harness = createHarness();
    await restUpToTheBound(harness, dialect);
    expect(dialect.accepted(await harness.call(dialect.marketable()))).toBe(true);
    expect(dialect.accepted(await harness.call(dialect.cancel(0)))).toBe(true);
    const again = await harness.call(dialect.resting(MAX_OPEN_ORDERS_PER_MARKET));
    expect(dialect.accepted(again)).toBe(true);
  });
});
