import ccxt from 'ccxt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_OPEN_ORDERS_PER_MARKET } from '../../src/sandbox/ledger.js';
import { RESTING_BUY } from './sandbox-harness.js';
import {
  startSandboxExchange,
  type RunningSandbox,
} from '../../src/sandbox/start-sandbox-exchange.js';

// ccxt's raw implicit methods run each exchange's handleErrors on the answer
// (exchange-signing.md §4.2); these calls go straight to the sandbox over a real socket, with the
// identity header the gateway would add. The sandbox ignores the (dummy) signatures.
const IDENTITY = { 'X-Portcullis-Account': 'acc_ccxt', 'X-Portcullis-Scopes': 'read,trade' };
const CREDENTIALS = { apiKey: 'dummy-key', secret: 'dummy-secret', headers: IDENTITY };

describe('ccxt raw implicit methods against the sandbox', () => {
  let sandbox: RunningSandbox;
  let binance: InstanceType<typeof ccxt.binance>;
  let bybit: InstanceType<typeof ccxt.bybit>;
  let okx: InstanceType<typeof ccxt.okx>;

  beforeAll(async () => {
    sandbox = await startSandboxExchange();
    const url = sandbox.url;
    binance = new ccxt.binance({
      ...CREDENTIALS,
      urls: { api: { public: `${url}/api/v3`, private: `${url}/api/v3` } },
    });
    bybit = new ccxt.bybit({
      ...CREDENTIALS,
      urls: { api: { public: url, private: url, spot: url, futures: url, v2: url } },
    });
    okx = new ccxt.okx({ ...CREDENTIALS, password: 'passphrase', urls: { api: { rest: url } } });
  });

  afterAll(async () => {
    await sandbox.close();
  });

  it('listens on loopback', () => {
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('binance: publicGetTime, privateGetAccount, privatePostOrder, privateDeleteOrder', async () => {
    expect((await binance.publicGetTime()).serverTime).toEqual(expect.any(Number));
    expect((await binance.privateGetAccount()).balances.length).toBeGreaterThan(0);
    const order = await binance.privatePostOrder({
      symbol: 'BTCUSDT',
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.01',
      price: '1000',
      newClientOrderId: 'ccxt-bn-1',
    });
    expect(order.status).toBe('NEW');
    expect(await binance.privateGetOpenOrders({ symbol: 'BTCUSDT' })).toHaveLength(1);
    const canceled = await binance.privateDeleteOrder({
      symbol: 'BTCUSDT',
      orderId: order.orderId,
    });
    expect(canceled.status).toBe('CANCELED');
  });

  it('binance: insufficient balance surfaces as ccxt InsufficientFunds', async () => {
    const attempt = binance.privatePostOrder({
      symbol: 'BTCUSDT',
      side: 'SELL',
      type: 'MARKET',
      quantity: '100',
    });
    await expect(attempt).rejects.toBeInstanceOf(ccxt.InsufficientFunds);
  });

  it('bybit: time, wallet balance, create and cancel', async () => {
    expect((await bybit.publicGetV5MarketTime()).retCode).toBe(0);
    const wallet = await bybit.privateGetV5AccountWalletBalance({ accountType: 'UNIFIED' });
    expect(wallet.result.list[0].coin.length).toBeGreaterThan(0);
    const created = await bybit.privatePostV5OrderCreate({
      category: 'spot',
      symbol: 'BTCUSDT',
      side: 'Buy',
      orderType: 'Limit',
      qty: '0.01',
      price: '1000',
    });
    const canceled = await bybit.privatePostV5OrderCancel({
      category: 'spot',
      symbol: 'BTCUSDT',
      orderId: created.result.orderId,
    });
    expect(canceled.result.orderId).toBe(created.result.orderId);
  });

  it('bybit: an unknown order surfaces as ccxt OrderNotFound', async () => {
    const attempt = bybit.privatePostV5OrderCancel({
      category: 'spot',
      symbol: 'BTCUSDT',
      orderId: '999999',
    });
    await expect(attempt).rejects.toBeInstanceOf(ccxt.OrderNotFound);
  });

  it('okx: time, balance, order and cancel', async () => {
    expect((await okx.publicGetPublicTime()).code).toBe('0');
    expect((await okx.privateGetAccountBalance({ ccy: 'BTC' })).data[0].details).toHaveLength(1);
    const placed = await okx.privatePostTradeOrder({
      instId: 'BTC-USDT',
      tdMode: 'cash',
      side: 'buy',
      ordType: 'limit',
      px: '1000',
      sz: '0.01',
      clOrdId: 'ccxtokx1',
    });
    expect(placed.data[0].sCode).toBe('0');
    const canceled = await okx.privatePostTradeCancelOrder({
      instId: 'BTC-USDT',
      clOrdId: 'ccxtokx1',
    });
    expect(canceled.data[0].ordId).toBe(placed.data[0].ordId);
  });

  it('okx: insufficient balance surfaces as ccxt InsufficientFunds', async () => {
    const attempt = okx.privatePostTradeOrder({
      instId: 'BTC-USDT',
      tdMode: 'cash',
      side: 'sell',
      ordType: 'market',
      sz: '100',
    });
    await expect(attempt).rejects.toBeInstanceOf(ccxt.InsufficientFunds);
  });

  // The open-order bound (docs/sandbox.md, Trading rules): the order past it surfaces as ccxt
  // InvalidOrder, as Binance's MAX_NUM_ORDERS filter, Bybit 110020 and OKX 51174 do. Each
  // exchange trades as an account of its own, so the bound is reached by its own orders only.
  // ccxt's own throttle (one call per exchange `rateLimit` ms) is off: 600 orders, not the point.
  const bounded = (account: string) => ({
    ...CREDENTIALS,
    headers: { ...IDENTITY, 'X-Portcullis-Account': account },
    enableRateLimit: false,
  });

  it('binance, bybit, okx: the order past the open-order bound surfaces as InvalidOrder', async () => {
    const url = sandbox.url;
    const bn = new ccxt.binance({
      ...bounded('acc_ccxt_bound_bn'),
      urls: { api: { public: `${url}/api/v3`, private: `${url}/api/v3` } },
    });
    const by = new ccxt.bybit({
      ...bounded('acc_ccxt_bound_by'),
      urls: { api: { public: url, private: url, spot: url, futures: url, v2: url } },
    });
    const ok = new ccxt.okx({
      ...bounded('acc_ccxt_bound_ok'),
      password: 'passphrase',
      urls: { api: { rest: url } },
    });
    const place = {
      binance: () => bn.privatePostOrder({ ...RESTING_BUY.binance }),
      bybit: () => by.privatePostV5OrderCreate({ ...RESTING_BUY.bybit }),
      okx: () => ok.privatePostTradeOrder({ ...RESTING_BUY.okx }),
    };
    for (const [name, order] of Object.entries(place)) {
      for (let i = 0; i < MAX_OPEN_ORDERS_PER_MARKET; i++) await order();
      await expect(order(), name).rejects.toBeInstanceOf(ccxt.InvalidOrder);
    }
  });
});
