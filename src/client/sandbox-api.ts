import { randomBytes } from 'node:crypto';
import type { ClientResponse, RequestOptions } from './types.js';

/** Typed calls for the built-in sandbox exchange's native API (docs/sandbox.md). */

export interface Account {
  readonly accountId: string;
  readonly keyId: string;
  readonly scopes: readonly string[];
  readonly canTrade: boolean;
  readonly canWithdraw: boolean;
  readonly createdAt: number;
}

export interface Balance {
  readonly asset: string;
  /** Decimal strings. */
  readonly free: string;
  readonly locked: string;
}

export interface PlaceOrderInput {
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly type: 'limit' | 'market';
  /** Decimal string, e.g. "0.01". */
  readonly quantity: string;
  /** Limit orders only. */
  readonly price?: string;
  readonly timeInForce?: 'GTC' | 'IOC' | 'FOK';
  /** Generated when absent, so that the order can be retried without a second fill. */
  readonly clientOrderId?: string;
}

export interface Order {
  readonly id: string;
  readonly clientOrderId: string | null;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly type: 'limit' | 'market';
  readonly timeInForce: 'GTC' | 'IOC' | 'FOK';
  readonly quantity: string;
  readonly price: string | null;
  readonly status: 'open' | 'filled' | 'canceled' | 'expired';
  readonly filledQuantity: string;
  readonly averagePrice: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface WithdrawInput {
  readonly asset: string;
  readonly amount: string;
  readonly address: string;
}

export interface Withdrawal {
  readonly id: string;
  readonly asset: string;
  readonly amount: string;
  readonly address: string;
  readonly status: 'completed';
  readonly createdAt: number;
}

export interface SandboxApi {
  getAccount(): Promise<Account>;
  getBalances(): Promise<Balance[]>;
  /** Always sent with a clientOrderId, so a lost answer can be retried safely. */
  placeOrder(input: PlaceOrderInput): Promise<Order>;
  cancelOrder(id: string): Promise<Order>;
  listOrders(filter?: { readonly symbol?: string }): Promise<Order[]>;
  /** Never retried once it may have reached the server: a withdrawal has no idempotency key. */
  withdraw(input: WithdrawInput): Promise<Withdrawal>;
}

type Send = <T>(
  method: string,
  path: string,
  options?: RequestOptions,
) => Promise<ClientResponse<T>>;

/** A client order id the sandbox accepts (`[.A-Za-z0-9:/_-]{1,36}`). */
export function newClientOrderId(): string {
  return `pc-${randomBytes(12).toString('base64url')}`;
}

/** The sandbox calls over a signed `send`. */
export function createSandboxApi(send: Send): SandboxApi {
  return {
    getAccount: async () => (await send<Account>('GET', '/api/v1/account')).body,
    getBalances: async () =>
      (await send<{ balances: Balance[] }>('GET', '/api/v1/balances')).body.balances,
    placeOrder: async (input) =>
      (
        await send<Order>('POST', '/api/v1/orders', {
          body: { ...input, clientOrderId: input.clientOrderId ?? newClientOrderId() },
        })
      ).body,
    cancelOrder: async (id) =>
      (await send<Order>('DELETE', `/api/v1/orders/${encodeURIComponent(id)}`)).body,
    listOrders: async (filter = {}) =>
      (
        await send<{ orders: Order[] }>('GET', '/api/v1/orders', {
          ...(filter.symbol !== undefined ? { query: { symbol: filter.symbol } } : {}),
        })
      ).body.orders,
    withdraw: async (input) =>
      (await send<Withdrawal>('POST', '/api/v1/withdrawals', { body: { ...input } })).body,
  };
}
