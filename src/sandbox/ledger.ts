import type { Clock } from '../core/clock.js';
import { divideToStep, multiplyAmounts } from './decimal.js';
import type { Market, Markets } from './markets.js';

export type OrderSide = 'buy' | 'sell';
export type OrderType = 'limit' | 'market';
export type TimeInForce = 'GTC' | 'IOC' | 'FOK';
/** `expired`: an IOC/FOK limit order that was not marketable and never rested. */
export type OrderStatus = 'open' | 'filled' | 'canceled' | 'expired';

/** What a dialect handler asks for, already validated and resolved. */
export interface OrderRequest {
  readonly market: Market;
  readonly side: OrderSide;
  readonly type: OrderType;
  /** Base quantity, or (market orders only) the quote amount to spend or receive. */
  readonly amount: { readonly base: bigint } | { readonly quote: bigint };
  /** Limit price; null for market orders. */
  readonly price: bigint | null;
  readonly timeInForce: TimeInForce;
  readonly clientOrderId: string | null;
}

/** An order as the ledger reports it. Amounts are 10^-16 units (see decimal.ts). */
export interface Order {
  readonly seq: number;
  readonly accountId: string;
  readonly clientOrderId: string | null;
  readonly market: Market;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  readonly quantity: bigint;
  readonly price: bigint | null;
  readonly status: OrderStatus;
  readonly filledQuantity: bigint;
  /** Quote amount exchanged by the fill (0 while unfilled). */
  readonly filledQuote: bigint;
  readonly fillPrice: bigint | null;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

export interface Balance {
  readonly asset: string;
  readonly free: bigint;
  readonly locked: bigint;
}

export interface Withdrawal {
  readonly seq: number;
  readonly accountId: string;
  readonly asset: string;
  readonly amount: bigint;
  readonly address: string;
  readonly status: 'completed';
  readonly createdAtMs: number;
}

export type LedgerFailure =
  | 'INSUFFICIENT_BALANCE'
  | 'ORDER_NOT_FOUND'
  | 'ORDER_NOT_OPEN'
  | 'QUANTITY_TOO_SMALL'
  | 'TOO_MANY_OPEN_ORDERS';

export type LedgerOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly failure: LedgerFailure };

export type OrderRef = { readonly seq: number } | { readonly clientOrderId: string };

export interface Ledger {
  readonly markets: Markets;
  /** The account's creation time; the account is seeded on first sight. */
  accountCreatedAtMs(accountId: string): number;
  balances(accountId: string): readonly Balance[];
  /** `replayed` is true when the clientOrderId was already used: the original order is returned. */
  placeOrder(
    accountId: string,
    request: OrderRequest,
  ): LedgerOutcome<{ order: Order; replayed: boolean }>;
  /** Cancels an open order; `symbol`, when given, must match the order's market. */
  cancelOrder(accountId: string, ref: OrderRef, symbol?: string): LedgerOutcome<Order>;
  openOrders(accountId: string, symbol?: string): readonly Order[];
  withdraw(
    accountId: string,
    request: { asset: string; amount: bigint; address: string },
  ): LedgerOutcome<Withdrawal>;
}

export interface LedgerOptions {
  readonly clock: Clock;
  readonly markets: Markets;
  /** Balances every account starts with, in 10^-16 units. */
  readonly seedBalances: ReadonlyMap<string, bigint>;
  /**
   * Closed orders (filled, canceled, expired) remembered at most, the newest kept: for a repeated
   * clientOrderId and for a cancel answering ORDER_NOT_OPEN. Default MAX_CLOSED_ORDERS.
   */
  readonly maxClosedOrders?: number;
  /**
   * Open orders one account may have resting in one market; an order that would rest beyond it
   * is refused TOO_MANY_OPEN_ORDERS (marketable and IOC/FOK orders never rest, so they pass).
   * Default MAX_OPEN_ORDERS_PER_MARKET.
   */
  readonly maxOpenOrdersPerMarket?: number;
}

/**
 * Closed orders a ledger remembers by default. Every order used to be kept for the life of the
 * process, and the sandbox runs inside the gateway's process: a bot trading against it for hours
 * grew the heap by hundreds of MB an hour until the process ran out of memory.
 */
export const MAX_CLOSED_ORDERS = 10_000;

/**
 * Open orders an account may rest in one market by default: Binance's usual MAX_NUM_ORDERS
 * filter. Open orders are never forgotten, so without a bound one account placing resting
 * orders far from the price (within its order-rate limit, 160,000 a day by default) grew the
 * gateway's heap without end.
 */
export const MAX_OPEN_ORDERS_PER_MARKET = 200;

interface Wallet {
  free: bigint;
  locked: bigint;
}

interface AccountState {
  readonly createdAtMs: number;
  readonly wallets: Map<string, Wallet>;
  /** clientOrderId → order seq, for idempotent placement. */
  readonly clientOrderIds: Map<string, number>;
  /** The account's open orders by seq: listed without looking at anyone else's. */
  readonly open: Map<number, Order>;
}

/** What placing an order would do to balances, before it is applied. */
interface Plan {
  readonly quantity: bigint;
  readonly fill: boolean;
  readonly expire: boolean;
  /** Asset and amount the order needs free: spent on a fill, locked while resting. */
  readonly debitAsset: string;
  readonly debitAmount: bigint;
  readonly creditAsset: string;
  readonly creditAmount: bigint;
}

/** One in-memory paper-trading ledger; each sandbox instance owns its own. */
export function createLedger(options: LedgerOptions): Ledger {
  const { clock, markets, seedBalances } = options;
  const accounts = new Map<string, AccountState>();
  const orders = new Map<number, Order>();
  /** Seqs of closed orders, oldest closed first: the oldest are forgotten beyond the bound. */
  const closed = new Set<number>();
  const maxClosed = Math.max(0, options.maxClosedOrders ?? MAX_CLOSED_ORDERS);
  const maxOpen = Math.max(0, options.maxOpenOrdersPerMarket ?? MAX_OPEN_ORDERS_PER_MARKET);
  let nextSeq = 1;

  /** The account's open orders in `market`: read off its open orders, at most maxOpen per market. */
  function openIn(state: AccountState, market: Market): number {
    let count = 0;
    for (const order of state.open.values()) if (order.market.symbol === market.symbol) count++;
    return count;
  }

  /** Files `order` (new or changed) under its status, forgetting the oldest closed beyond the bound. */
  function keep(state: AccountState, order: Order): void {
    orders.set(order.seq, order);
    if (order.status === 'open') {
      state.open.set(order.seq, order);
      return;
    }
    state.open.delete(order.seq);
    closed.add(order.seq);
    while (closed.size > maxClosed) {
      const oldest = closed.values().next().value as number;
      closed.delete(oldest);
      const forgotten = orders.get(oldest);
      orders.delete(oldest);
      if (forgotten?.clientOrderId == null) continue;
      const ids = accounts.get(forgotten.accountId)?.clientOrderIds;
      if (ids?.get(forgotten.clientOrderId) === oldest) ids.delete(forgotten.clientOrderId);
    }
  }

  function account(accountId: string): AccountState {
    let state = accounts.get(accountId);
    if (!state) {
      const wallets = new Map<string, Wallet>();
      for (const [asset, amount] of seedBalances) wallets.set(asset, { free: amount, locked: 0n });
      state = { createdAtMs: clock.now(), wallets, clientOrderIds: new Map(), open: new Map() };
      accounts.set(accountId, state);
    }
    return state;
  }

  function wallet(state: AccountState, asset: string): Wallet {
    let found = state.wallets.get(asset);
    if (!found) {
      found = { free: 0n, locked: 0n };
      state.wallets.set(asset, found);
    }
    return found;
  }

  function placeOrder(
    accountId: string,
    request: OrderRequest,
  ): LedgerOutcome<{ order: Order; replayed: boolean }> {
    const state = account(accountId);
    if (request.clientOrderId !== null) {
      const seq = state.clientOrderIds.get(request.clientOrderId);
      const original = seq === undefined ? undefined : orders.get(seq);
      if (original) return { ok: true, value: { order: original, replayed: true } };
    }
    const plan = planOrder(request);
    if (plan.quantity <= 0n) return { ok: false, failure: 'QUANTITY_TOO_SMALL' };
    const rests = !plan.fill && !plan.expire;
    if (rests && openIn(state, request.market) >= maxOpen)
      return { ok: false, failure: 'TOO_MANY_OPEN_ORDERS' };
    const debit = wallet(state, plan.debitAsset);
    if (debit.free < plan.debitAmount) return { ok: false, failure: 'INSUFFICIENT_BALANCE' };
    if (plan.fill) {
      debit.free -= plan.debitAmount;
      wallet(state, plan.creditAsset).free += plan.creditAmount;
    } else if (!plan.expire) {
      debit.free -= plan.debitAmount;
      debit.locked += plan.debitAmount;
    }
    const nowMs = clock.now();
    const fillPrice = plan.fill ? request.market.referencePrice : null;
    const order: Order = Object.freeze({
      seq: nextSeq++,
      accountId,
      clientOrderId: request.clientOrderId,
      market: request.market,
      side: request.side,
      type: request.type,
      timeInForce: request.timeInForce,
      quantity: plan.quantity,
      price: request.price,
      status: plan.fill ? 'filled' : plan.expire ? 'expired' : 'open',
      filledQuantity: plan.fill ? plan.quantity : 0n,
      filledQuote: fillPrice === null ? 0n : multiplyAmounts(plan.quantity, fillPrice),
      fillPrice,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    });
    if (request.clientOrderId !== null) state.clientOrderIds.set(request.clientOrderId, order.seq);
    keep(state, order);
    return { ok: true, value: { order, replayed: false } };
  }

  function cancelOrder(accountId: string, ref: OrderRef, symbol?: string): LedgerOutcome<Order> {
    const state = account(accountId);
    const seq = 'seq' in ref ? ref.seq : state.clientOrderIds.get(ref.clientOrderId);
    const order = seq === undefined ? undefined : orders.get(seq);
    // Another account's order is reported as unknown, so ids reveal nothing across accounts.
    if (!order || order.accountId !== accountId) return { ok: false, failure: 'ORDER_NOT_FOUND' };
    if (symbol !== undefined && order.market.symbol !== symbol) {
      return { ok: false, failure: 'ORDER_NOT_FOUND' };
    }
    if (order.status !== 'open') return { ok: false, failure: 'ORDER_NOT_OPEN' };
    const { asset, amount } = lockOf(order);
    const held = wallet(state, asset);
    held.locked -= amount;
    held.free += amount;
    const canceled: Order = Object.freeze({
      ...order,
      status: 'canceled',
      updatedAtMs: clock.now(),
    });
    keep(state, canceled);
    return { ok: true, value: canceled };
  }

  function openOrders(accountId: string, symbol?: string): readonly Order[] {
    const open = [...account(accountId).open.values()];
    return symbol === undefined ? open : open.filter((order) => order.market.symbol === symbol);
  }

  function withdraw(
    accountId: string,
    request: { asset: string; amount: bigint; address: string },
  ): LedgerOutcome<Withdrawal> {
    const held = wallet(account(accountId), request.asset);
    if (request.amount <= 0n) return { ok: false, failure: 'QUANTITY_TOO_SMALL' };
    if (held.free < request.amount) return { ok: false, failure: 'INSUFFICIENT_BALANCE' };
    held.free -= request.amount;
    const withdrawal: Withdrawal = Object.freeze({
      seq: nextSeq++,
      accountId,
      ...request,
      status: 'completed',
      createdAtMs: clock.now(),
    });
    return { ok: true, value: withdrawal };
  }

  function balances(accountId: string): readonly Balance[] {
    return [...account(accountId).wallets]
      .map(([asset, held]) => Object.freeze({ asset, free: held.free, locked: held.locked }))
      .sort((left, right) => (left.asset < right.asset ? -1 : left.asset > right.asset ? 1 : 0));
  }

  return {
    markets,
    accountCreatedAtMs: (accountId) => account(accountId).createdAtMs,
    balances,
    placeOrder,
    cancelOrder,
    openOrders,
    withdraw,
  };
}

/** Marketable orders fill in full at the reference price; the rest rest (or expire if IOC/FOK). */
function planOrder(request: OrderRequest): Plan {
  const { market, side } = request;
  const reference = market.referencePrice;
  const quantity =
    'base' in request.amount ? request.amount.base : divideToStep(request.amount.quote, reference);
  const limit = request.price;
  const marketable = limit === null || (side === 'buy' ? limit >= reference : limit <= reference);
  const expire = !marketable && request.timeInForce !== 'GTC';
  const cost = multiplyAmounts(quantity, marketable ? reference : (limit ?? reference));
  if (side === 'buy') {
    return {
      quantity,
      fill: marketable,
      expire,
      debitAsset: market.quote,
      debitAmount: cost,
      creditAsset: market.base,
      creditAmount: quantity,
    };
  }
  return {
    quantity,
    fill: marketable,
    expire,
    debitAsset: market.base,
    debitAmount: quantity,
    creditAsset: market.quote,
    creditAmount: cost,
  };
}

/** The asset and amount a resting order holds locked. */
function lockOf(order: Order): { asset: string; amount: bigint } {
  if (order.side === 'sell') return { asset: order.market.base, amount: order.quantity };
  // A resting order is never marketable, so its price is set (market orders always fill).
  const price = order.price ?? order.market.referencePrice;
  return { asset: order.market.quote, amount: multiplyAmounts(order.quantity, price) };
}
