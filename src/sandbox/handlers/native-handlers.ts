import type { FastifyRequest } from 'fastify';
import { formatDecimal } from '../decimal.js';
import {
  CLIENT_ORDER_ID_PATTERN,
  ORDER_SEQ_PATTERN,
  resolveMarket,
  unwrap,
  type HandlerDeps,
  type HandlerTable,
} from '../handler.js';
import { requireIdentity } from '../identity.js';
import type {
  Ledger,
  Order,
  OrderRequest,
  OrderSide,
  OrderType,
  TimeInForce,
  Withdrawal,
} from '../ledger.js';
import { ASSET_PATTERN } from '../markets.js';
import { ParamReader, paramsFromJson, parseFlatParams, rawQuery } from '../params.js';
import { fieldFault } from '../sandbox-fault.js';

const SIDES: Readonly<Record<string, OrderSide>> = { buy: 'buy', sell: 'sell' };
const TYPES: Readonly<Record<string, OrderType>> = { limit: 'limit', market: 'market' };
const TIME_IN_FORCE: Readonly<Record<string, TimeInForce>> = { GTC: 'GTC', IOC: 'IOC', FOK: 'FOK' };
const NATIVE_ORDER_ID = /^ord_([1-9]\d{0,14})$/;
// Addresses of the supported chains are printable ASCII without spaces.
const ADDRESS_PATTERN = /^[A-Za-z0-9:._-]{4,128}$/;

/** The native JSON API: `/api/v1/*` and `/health`. */
export function createNativeHandlers(deps: HandlerDeps): HandlerTable {
  const { ledger, clock } = deps;
  return {
    'GET /health': (request, reply) => {
      noQuery(request);
      return reply.send({ status: 'ok' });
    },
    'GET /api/v1/time': (request, reply) => {
      noQuery(request);
      return reply.send({ serverTime: clock.now() });
    },
    'GET /api/v1/account': (request, reply) => {
      noQuery(request);
      const { accountId, keyId, scopes } = requireIdentity(request.headers);
      return reply.send({
        accountId,
        keyId,
        scopes,
        canTrade: scopes.includes('trade'),
        canWithdraw: scopes.includes('withdraw'),
        createdAt: ledger.accountCreatedAtMs(accountId),
      });
    },
    'GET /api/v1/balances': (request, reply) => {
      noQuery(request);
      const { accountId } = requireIdentity(request.headers);
      const balances = ledger.balances(accountId).map((balance) => ({
        asset: balance.asset,
        free: formatDecimal(balance.free),
        locked: formatDecimal(balance.locked),
      }));
      return reply.send({ balances });
    },
    'POST /api/v1/orders': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      noQuery(request);
      const placed = unwrap(ledger.placeOrder(accountId, readNativeOrder(ledger, request.body)));
      return reply.code(placed.replayed ? 200 : 201).send(nativeOrder(placed.order));
    },
    'DELETE /api/v1/orders/:id': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      noQuery(request);
      const id = new ParamReader(paramsFromJson(request.params), ['id']).required('id');
      const canceled = unwrap(ledger.cancelOrder(accountId, { seq: nativeOrderSeq(id) }));
      return reply.send(nativeOrder(canceled));
    },
    'GET /api/v1/orders': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      const query = new ParamReader(parseFlatParams(rawQuery(request.url)), ['symbol']);
      const symbol = query.optional('symbol');
      const market = symbol === undefined ? undefined : resolveMarket(ledger, symbol, 'symbol');
      const orders = ledger.openOrders(accountId, market?.symbol).map(nativeOrder);
      return reply.send({ orders });
    },
    'POST /api/v1/withdrawals': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      noQuery(request);
      const fields = new ParamReader(paramsFromJson(request.body), ['asset', 'amount', 'address']);
      const asset = fields.required('asset', ASSET_PATTERN, 'an upper-case asset code');
      const amount = fields.requiredAmount('amount');
      const address = fields.required('address', ADDRESS_PATTERN, '4-128 address characters');
      const withdrawal = unwrap(ledger.withdraw(accountId, { asset, amount, address }));
      return reply.code(201).send(nativeWithdrawal(withdrawal));
    },
  };
}

/** A native order body (JSON object) as a validated ledger request; throws a fault otherwise. */
export function readNativeOrder(ledger: Ledger, body: unknown): OrderRequest {
  const fields = new ParamReader(paramsFromJson(body), [
    'symbol',
    'side',
    'type',
    'quantity',
    'price',
    'timeInForce',
    'clientOrderId',
  ]);
  const market = resolveMarket(ledger, fields.required('symbol'), 'symbol');
  const side = fields.requiredChoice('side', SIDES);
  const type = fields.requiredChoice('type', TYPES);
  const quantity = fields.requiredAmount('quantity');
  if (type === 'market') {
    fields.forbid('price');
    fields.forbid('timeInForce');
  }
  const price = type === 'limit' ? fields.requiredAmount('price') : null;
  const timeInForce = fields.choice('timeInForce', TIME_IN_FORCE) ?? 'GTC';
  const clientOrderId = fields.optional('clientOrderId', CLIENT_ORDER_ID_PATTERN) ?? null;
  return { market, side, type, amount: { base: quantity }, price, timeInForce, clientOrderId };
}

/** The sequence number of a native order id (`ord_12`); throws a field fault otherwise. */
export function nativeOrderSeq(id: string): number {
  const seq = NATIVE_ORDER_ID.exec(id)?.[1];
  if (seq === undefined || !ORDER_SEQ_PATTERN.test(seq)) {
    throw fieldFault('id', 'invalid', 'an order id like ord_1');
  }
  return Number(seq);
}

/** Native routes take no query parameters unless they say so. */
function noQuery(request: FastifyRequest): void {
  new ParamReader(parseFlatParams(rawQuery(request.url)), []);
}

export function nativeOrder(order: Order): Record<string, unknown> {
  return {
    id: `ord_${order.seq}`,
    clientOrderId: order.clientOrderId,
    symbol: order.market.symbol,
    side: order.side,
    type: order.type,
    timeInForce: order.timeInForce,
    quantity: formatDecimal(order.quantity),
    price: order.price === null ? null : formatDecimal(order.price),
    status: order.status,
    filledQuantity: formatDecimal(order.filledQuantity),
    averagePrice: order.fillPrice === null ? null : formatDecimal(order.fillPrice),
    createdAt: order.createdAtMs,
    updatedAt: order.updatedAtMs,
  };
}

function nativeWithdrawal(withdrawal: Withdrawal): Record<string, unknown> {
  return {
    id: `wd_${withdrawal.seq}`,
    asset: withdrawal.asset,
    amount: formatDecimal(withdrawal.amount),
    address: withdrawal.address,
    status: withdrawal.status,
    createdAt: withdrawal.createdAtMs,
  };
}
