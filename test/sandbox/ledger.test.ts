/**
 * The sandbox ledger's memory (src/sandbox/ledger.ts): closed orders are remembered up to a bound,
 * the newest kept, with their client order ids; open orders are always kept (they hold funds)
 * and are listed per account without looking at anyone else's.
 */
import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/sandbox/decimal.js';
import {
  createLedger,
  MAX_CLOSED_ORDERS,
  MAX_OPEN_ORDERS_PER_MARKET,
  type OrderRequest,
} from '../../src/sandbox/ledger.js';
import { createMarkets, DEFAULT_MARKETS } from '../../src/sandbox/markets.js';
import { createManualClock } from '../helpers/manual-clock.js';

const units = (text: string): bigint => {
  const parsed = parseDecimal(text);
  if (!parsed.ok) throw new Error(text);
  return parsed.value;
};

function ledger(maxClosedOrders?: number, maxOpenOrdersPerMarket?: number) {
  const markets = createMarkets(DEFAULT_MARKETS);
  const created = createLedger({
    clock: createManualClock(),
    markets,
    seedBalances: new Map([
      ['USDT', units('1000000')],
      ['BTC', units('10')],
    ]),
    ...(maxClosedOrders === undefined ? {} : { maxClosedOrders }),
    ...(maxOpenOrdersPerMarket === undefined ? {} : { maxOpenOrdersPerMarket }),
  });
  const btc = markets.resolve('BTCUSDT');
  const eth = markets.resolve('ETHUSDT');
  if (btc === undefined || eth === undefined) throw new Error('markets');
  /**
   * A market buy (fills at once: closed), a limit buy far below the market (rests: open) or the
   * same with IOC (expires at once: closed); in BTCUSDT unless `market` says otherwise.
   */
  const order = (
    kind: 'filled' | 'open' | 'expired',
    clientOrderId: string | null = null,
    market = btc,
  ): OrderRequest => ({
    market,
    side: 'buy',
    type: kind === 'filled' ? 'market' : 'limit',
    amount: { base: units('0.001') },
    price: kind === 'filled' ? null : units('1000'),
    timeInForce: kind === 'expired' ? 'IOC' : 'GTC',
    clientOrderId,
  });
  return { ledger: created, order, eth };
}

const placed = (outcome: ReturnType<ReturnType<typeof ledger>['ledger']['placeOrder']>) => {
  if (!outcome.ok) throw new Error(outcome.failure);
  return outcome.value;
};

describe('sandbox ledger memory', () => {
  it(`remembers ${MAX_CLOSED_ORDERS} closed orders by default`, () => {
    expect(MAX_CLOSED_ORDERS).toBe(10_000);
  });

  it('forgets the oldest closed orders beyond the bound, with their client order ids', () => {
    const { ledger: l, order } = ledger(3);
    const first = placed(l.placeOrder('acc_a', order('filled', 'c1'))).order;
    for (let i = 2; i <= 4; i++) placed(l.placeOrder('acc_a', order('filled', `c${i}`)));
    // c1 was forgotten: the same client order id places a new order.
    const again = placed(l.placeOrder('acc_a', order('filled', 'c1')));
    expect(again.replayed).toBe(false);
    expect(again.order.seq).not.toBe(first.seq);
    // c4 is among the newest three: a repeat answers the original.
    const repeat = placed(l.placeOrder('acc_a', order('filled', 'c4')));
    expect(repeat.replayed).toBe(true);
    // A forgotten order is unknown to a cancel; a remembered closed one is not open.
    expect(l.cancelOrder('acc_a', { seq: first.seq })).toEqual({
      ok: false,
      failure: 'ORDER_NOT_FOUND',
    });
    expect(l.cancelOrder('acc_a', { clientOrderId: 'c4' })).toEqual({
      ok: false,
      failure: 'ORDER_NOT_OPEN',
    });
  });

  it('keeps every open order whatever the bound, and a canceled one becomes closed', () => {
    const { ledger: l, order } = ledger(2);
    const open = Array.from(
      { length: 5 },
      (_, i) => placed(l.placeOrder('acc_a', order('open', `o${i}`))).order,
    );
    for (let i = 0; i < 5; i++) placed(l.placeOrder('acc_a', order('filled')));
    expect(l.openOrders('acc_a').map((o) => o.seq)).toEqual(open.map((o) => o.seq));
    const canceled = l.cancelOrder('acc_a', { clientOrderId: 'o0' });
    expect(canceled.ok && canceled.value.status).toBe('canceled');
    expect(l.openOrders('acc_a')).toHaveLength(4);
    // The funds it held are free again.
    const usdt = l.balances('acc_a').find((b) => b.asset === 'USDT');
    expect(usdt?.locked).toBe(4n * units('1'));
  });

  it('lists an account’s open orders only, by symbol when asked', () => {
    const { ledger: l, order } = ledger();
    placed(l.placeOrder('acc_a', order('open')));
    placed(l.placeOrder('acc_b', order('open')));
    placed(l.placeOrder('acc_b', order('open')));
    expect(l.openOrders('acc_a')).toHaveLength(1);
    expect(l.openOrders('acc_b', 'BTCUSDT')).toHaveLength(2);
    expect(l.openOrders('acc_b', 'ETHUSDT')).toHaveLength(0);
  });

  it('the bound is the ledger’s, across accounts', () => {
    const { ledger: l, order } = ledger(100);
    for (let i = 0; i < 100; i++) placed(l.placeOrder('acc_a', order('filled', `n${i}`)));
    expect(placed(l.placeOrder('acc_a', order('filled', 'n99'))).replayed).toBe(true);
    // 100 closed orders of another account push all of acc_a's out.
    for (let i = 0; i < 100; i++) placed(l.placeOrder('acc_b', order('filled')));
    expect(placed(l.placeOrder('acc_a', order('filled', 'n99'))).replayed).toBe(false);
  });

  it(`rests at most ${MAX_OPEN_ORDERS_PER_MARKET} open orders per account and market by default`, () => {
    expect(MAX_OPEN_ORDERS_PER_MARKET).toBe(200);
    const { ledger: l, order } = ledger();
    for (let i = 0; i < MAX_OPEN_ORDERS_PER_MARKET; i++)
      placed(l.placeOrder('acc_a', order('open')));
    expect(l.placeOrder('acc_a', order('open'))).toEqual({
      ok: false,
      failure: 'TOO_MANY_OPEN_ORDERS',
    });
    expect(l.openOrders('acc_a')).toHaveLength(MAX_OPEN_ORDERS_PER_MARKET);
  });

  it('refuses an order that would rest beyond the bound, and nothing changes', () => {
    const { ledger: l, order } = ledger(undefined, 3);
    for (let i = 0; i < 3; i++) placed(l.placeOrder('acc_a', order('open', `o${i}`)));
    const before = l.balances('acc_a');
    expect(l.placeOrder('acc_a', order('open', 'o3'))).toEqual({
      ok: false,
      failure: 'TOO_MANY_OPEN_ORDERS',
    });
    expect(l.balances('acc_a')).toEqual(before);
    expect(l.openOrders('acc_a')).toHaveLength(3);
    // The refused client order id was not taken: it places an order once there is room.
    expect(l.cancelOrder('acc_a', { clientOrderId: 'o0' }).ok).toBe(true);
    expect(placed(l.placeOrder('acc_a', order('open', 'o3'))).replayed).toBe(false);
    expect(l.placeOrder('acc_a', order('open'))).toMatchObject({ failure: 'TOO_MANY_OPEN_ORDERS' });
  });

  it('counts only resting orders, per account and per market', () => {
    const { ledger: l, order, eth } = ledger(undefined, 2);
    placed(l.placeOrder('acc_a', order('open', 'a1')));
    placed(l.placeOrder('acc_a', order('open')));
    // At the bound: orders that never rest still go through.
    expect(placed(l.placeOrder('acc_a', order('filled'))).order.status).toBe('filled');
    expect(placed(l.placeOrder('acc_a', order('expired'))).order.status).toBe('expired');
    // A repeated client order id answers the original, as always.
    expect(placed(l.placeOrder('acc_a', order('open', 'a1'))).replayed).toBe(true);
    // Another market, and another account, have bounds of their own.
    expect(placed(l.placeOrder('acc_a', order('open', null, eth))).order.status).toBe('open');
    expect(placed(l.placeOrder('acc_b', order('open'))).order.status).toBe('open');
    expect(l.placeOrder('acc_a', order('open'))).toMatchObject({ failure: 'TOO_MANY_OPEN_ORDERS' });
    // Canceling a closed order frees nothing; canceling an open one frees one place.
    expect(l.cancelOrder('acc_a', { seq: 3 })).toMatchObject({ failure: 'ORDER_NOT_OPEN' });
    expect(l.placeOrder('acc_a', order('open'))).toMatchObject({ failure: 'TOO_MANY_OPEN_ORDERS' });
    expect(l.cancelOrder('acc_a', { clientOrderId: 'a1' }).ok).toBe(true);
    expect(placed(l.placeOrder('acc_a', order('open'))).order.status).toBe('open');
  });
});
