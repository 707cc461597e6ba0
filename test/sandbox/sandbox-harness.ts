import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Clock } from '../../src/core/clock.js';
import {
  buildSandboxExchange,
  type SandboxExchangeOptions,
} from '../../src/sandbox/build-sandbox-exchange.js';

export const FIXED_NOW_MS = 1_700_000_000_000;

/** A clock tests move by hand. */
export function manualClock(startMs = FIXED_NOW_MS): Clock & { advance(ms: number): void } {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
  };
}

export interface Harness {
  readonly app: FastifyInstance;
  /** Injects as the gateway would, with identity headers for `account` (default acc_1). */
  call(options: InjectOptions & { account?: string | null }): Promise<LightMyRequestResponse>;
}

export function createHarness(options: SandboxExchangeOptions = {}): Harness {
  const app = buildSandboxExchange({ clock: manualClock(), ...options });
  return {
    app,
    call: ({ account = 'acc_1', headers = {}, ...rest }) =>
      app.inject({
        ...rest,
        headers: {
          ...(account === null
            ? {}
            : {
                'x-portcullis-account': account,
                'x-portcullis-key': 'pk_test_abc',
                'x-portcullis-scopes': 'read,trade,withdraw',
              }),
          'x-request-id': 'req_test',
          ...headers,
        },
      }),
  };
}

/** The parsed body (untyped on purpose: tests read exchange envelopes freely). */
export function json(response: LightMyRequestResponse) {
  return JSON.parse(response.body);
}

/** Balances of the native route as { asset: { free, locked } }. */
export async function nativeBalances(
  harness: Harness,
  account = 'acc_1',
): Promise<Record<string, { free: string; locked: string }>> {
  const response = await harness.call({ method: 'GET', url: '/api/v1/balances', account });
  const result: Record<string, { free: string; locked: string }> = {};
  for (const balance of json(response).balances) {
    result[balance.asset] = { free: balance.free, locked: balance.locked };
  }
  return result;
}

/**
 * A limit buy of 0.001 BTC at 1,000 USDT, far below the reference price (it rests), in each
 * dialect's own parameters; `MARKET_BUY` the same quantity at market (it fills at once).
 */
export const RESTING_BUY = {
  native: { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: '0.001', price: '1000' },
  binance: {
    symbol: 'BTCUSDT',
    side: 'BUY',
    type: 'LIMIT',
    timeInForce: 'GTC',
    quantity: '0.001',
    price: '1000',
  },
  bybit: {
    category: 'spot',
    symbol: 'BTCUSDT',
    side: 'Buy',
    orderType: 'Limit',
    qty: '0.001',
    price: '1000',
  },
  okx: {
    instId: 'BTC-USDT',
    tdMode: 'cash',
    side: 'buy',
    ordType: 'limit',
    px: '1000',
    sz: '0.001',
  },
} as const;

export const MARKET_BUY = {
  native: { symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: '0.001' },
  binance: { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001' },
  bybit: { category: 'spot', symbol: 'BTCUSDT', side: 'Buy', orderType: 'Market', qty: '0.001' },
  okx: { instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', ordType: 'market', sz: '0.001' },
} as const;
