import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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
  Order,
  OrderRequest,
  OrderSide,
  OrderStatus,
  OrderType,
  TimeInForce,
} from '../ledger.js';
import {
  FormBody,
  ParamReader,
  mergeParams,
  parseFlatParams,
  rawQuery,
  type ParamValues,
} from '../params.js';
import { SandboxFault, fieldFault } from '../sandbox-fault.js';

/** Signed-request params the gateway already verified; the sandbox accepts and ignores them. */
const SIGNING_PARAMS = ['timestamp', 'recvWindow', 'signature'] as const;
const SIDES: Readonly<Record<string, OrderSide>> = { BUY: 'buy', SELL: 'sell' };
const TYPES: Readonly<Record<string, OrderType>> = { LIMIT: 'limit', MARKET: 'market' };
const TIME_IN_FORCE: Readonly<Record<string, TimeInForce>> = { GTC: 'GTC', IOC: 'IOC', FOK: 'FOK' };
const RESPONSE_TYPES = { ACK: 'ACK', RESULT: 'RESULT', FULL: 'FULL' } as const;
const BOOLEANS: Readonly<Record<string, boolean>> = { true: true, false: false };
const STATUS: Readonly<Record<OrderStatus, string>> = {
  open: 'NEW',
  filled: 'FILLED',
  canceled: 'CANCELED',
  expired: 'EXPIRED',
};
const ZERO = '0.00000000';

/**
 * Binance takes params from the query string and, for POST/DELETE, a form body. Registered only
 * in the Binance plugin's context, so JSON is not accepted there and form bodies nowhere else.
 */
export function registerBinanceBodyParser(instance: FastifyInstance): void {
  instance.removeContentTypeParser('application/json');
  instance.removeContentTypeParser('text/plain');
  instance.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      try {
        done(
          null,
          new FormBody(parseFlatParams(typeof body === 'string' ? body : body.toString())),
        );
      } catch (error) {
        done(error instanceof Error ? error : new Error('form body could not be parsed'));
      }
    },
  );
}

/** Binance spot REST (`/api/v3/*`), enough for ccxt's raw implicit methods. */
export function createBinanceHandlers(deps: HandlerDeps): HandlerTable {
  const { ledger, clock } = deps;
  return {
    'GET /api/v3/time': (request, reply) => {
      paramsOf(request, []);
      return reply.send({ serverTime: clock.now() });
    },
    'GET /api/v3/account': (request, reply) => {
      const { accountId, scopes } = requireIdentity(request.headers);
      const params = paramsOf(request, ['omitZeroBalances']);
      const omitZero = params.choice('omitZeroBalances', BOOLEANS) ?? false;
      const balances = ledger
        .balances(accountId)
        .filter((balance) => !omitZero || balance.free + balance.locked > 0n)
        .map((balance) => ({
          asset: balance.asset,
          free: formatDecimal(balance.free, 8),
          locked: formatDecimal(balance.locked, 8),
        }));
      return reply.send({
        makerCommission: 0,
        takerCommission: 0,
        buyerCommission: 0,
        sellerCommission: 0,
        commissionRates: { maker: ZERO, taker: ZERO, buyer: ZERO, seller: ZERO },
        canTrade: scopes.includes('trade'),
        canWithdraw: scopes.includes('withdraw'),
        canDeposit: true,
        brokered: false,
        requireSelfTradePrevention: false,
        preventSor: false,
        updateTime: clock.now(),
        accountType: 'SPOT',
        balances,
        permissions: ['SPOT'],
        uid: accountId,
      });
    },
    'POST /api/v3/order': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      const params = paramsOf(request, [
        'symbol',
        'side',
        'type',
        'timeInForce',
        'quantity',
        'quoteOrderQty',
        'price',
        'newClientOrderId',
        'newOrderRespType',
      ]);
      const market = resolveMarket(ledger, params.required('symbol'), 'symbol');
      const side = params.requiredChoice('side', SIDES);
      const type = params.requiredChoice('type', TYPES);
      const responseType = params.choice('newOrderRespType', RESPONSE_TYPES) ?? 'FULL';
      const clientOrderId =
        params.optional('newClientOrderId', CLIENT_ORDER_ID_PATTERN) ??
        `sbx_${randomBytes(12).toString('hex')}`;
      const placed = unwrap(
        ledger.placeOrder(accountId, {
          market,
          side,
          type,
          ...orderTerms(params, type),
          clientOrderId,
        }),
      );
      return reply.send(placedOrder(placed.order, responseType));
    },
    'DELETE /api/v3/order': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      const params = paramsOf(request, [
        'symbol',
        'orderId',
        'origClientOrderId',
        'newClientOrderId',
      ]);
      const market = resolveMarket(ledger, params.required('symbol'), 'symbol');
      const orderId = params.optional('orderId', ORDER_SEQ_PATTERN, 'a numeric order id');
      const origClientOrderId = params.optional('origClientOrderId', CLIENT_ORDER_ID_PATTERN);
      const cancelId =
        params.optional('newClientOrderId', CLIENT_ORDER_ID_PATTERN) ??
        `sbx_${randomBytes(12).toString('hex')}`;
      const ref =
        orderId !== undefined
          ? { seq: Number(orderId) }
          : origClientOrderId !== undefined
            ? { clientOrderId: origClientOrderId }
            : undefined;
      if (!ref) throw fieldFault('orderId', 'missing');
      const canceled = unwrap(ledger.cancelOrder(accountId, ref, market.symbol));
      return reply.send({
        symbol: canceled.market.symbol,
        origClientOrderId: canceled.clientOrderId ?? '',
        ...orderFields(canceled),
        clientOrderId: cancelId,
        transactTime: canceled.updatedAtMs,
      });
    },
    'GET /api/v3/openOrders': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      const symbol = paramsOf(request, ['symbol']).optional('symbol');
      const market = symbol === undefined ? undefined : resolveMarket(ledger, symbol, 'symbol');
      const orders = ledger.openOrders(accountId, market?.symbol).map((order) => ({
        symbol: order.market.symbol,
        ...orderFields(order),
        stopPrice: ZERO,
        icebergQty: ZERO,
        time: order.createdAtMs,
        updateTime: order.updatedAtMs,
        isWorking: true,
      }));
      return reply.send(orders);
    },
  };
}

/** Query params plus form-body params; a name in both is refused rather than resolved. */
function paramsOf(request: FastifyRequest, allowed: readonly string[]): ParamReader {
  const query = parseFlatParams(rawQuery(request.url));
  let body: ParamValues = new Map();
  if (request.body instanceof FormBody) body = request.body.params;
  else if (request.body !== undefined && request.body !== null) {
    throw new SandboxFault('UNSUPPORTED_MEDIA_TYPE', 'send a form-urlencoded body');
  }
  return new ParamReader(mergeParams(query, body), allowed, SIGNING_PARAMS);
}

/** Quantity, price and time in force, checked against the order type as Binance does. */
function orderTerms(
  params: ParamReader,
  type: OrderType,
): Pick<OrderRequest, 'amount' | 'price' | 'timeInForce'> {
  if (type === 'limit') {
    params.forbid('quoteOrderQty');
    return {
      amount: { base: params.requiredAmount('quantity') },
      price: params.requiredAmount('price'),
      timeInForce: params.choice('timeInForce', TIME_IN_FORCE) ?? 'GTC',
    };
  }
  params.forbid('price');
  params.forbid('timeInForce');
  const quote = params.amount('quoteOrderQty');
  if (quote !== undefined) {
    params.forbid('quantity');
    return { amount: { quote }, price: null, timeInForce: 'GTC' };
  }
  return { amount: { base: params.requiredAmount('quantity') }, price: null, timeInForce: 'GTC' };
}

/** Fields every Binance order object carries, amounts with 8 decimals. */
function orderFields(order: Order): Record<string, unknown> {
  return {
    orderId: order.seq,
    orderListId: -1,
    clientOrderId: order.clientOrderId ?? '',
    price: order.price === null ? ZERO : formatDecimal(order.price, 8),
    origQty: formatDecimal(order.quantity, 8),
    executedQty: formatDecimal(order.filledQuantity, 8),
    origQuoteOrderQty: ZERO,
    cummulativeQuoteQty: formatDecimal(order.filledQuote, 8),
    status: STATUS[order.status],
    timeInForce: order.timeInForce,
    type: order.type === 'limit' ? 'LIMIT' : 'MARKET',
    side: order.side === 'buy' ? 'BUY' : 'SELL',
    workingTime: order.createdAtMs,
    selfTradePreventionMode: 'NONE',
  };
}

/** The POST /api/v3/order answer in the ACK, RESULT or FULL shape. */
function placedOrder(order: Order, responseType: keyof typeof RESPONSE_TYPES): unknown {
  const ack = {
    symbol: order.market.symbol,
    orderId: order.seq,
    orderListId: -1,
    clientOrderId: order.clientOrderId ?? '',
    transactTime: order.createdAtMs,
  };
  if (responseType === 'ACK') return ack;
  const result = { ...ack, ...orderFields(order) };
  if (responseType === 'RESULT') return result;
  const fills =
    order.fillPrice === null
      ? []
      : [
          {
            price: formatDecimal(order.fillPrice, 8),
            qty: formatDecimal(order.filledQuantity, 8),
            commission: ZERO,
            commissionAsset: order.side === 'buy' ? order.market.base : order.market.quote,
            tradeId: order.seq,
          },
        ];
  return { ...result, fills };
}
