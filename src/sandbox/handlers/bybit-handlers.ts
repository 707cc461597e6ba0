import type { FastifyRequest } from 'fastify';
import { formatDecimal } from '../decimal.js';
import {
  ASSET_LIST_PATTERN,
  CLIENT_ORDER_ID_PATTERN,
  ORDER_SEQ_PATTERN,
  filterAssets,
  resolveMarket,
  unwrap,
  type HandlerDeps,
  type HandlerTable,
} from '../handler.js';
import { requireIdentity } from '../identity.js';
import type { OrderRequest, OrderSide, OrderType, TimeInForce } from '../ledger.js';
import { ParamReader, paramsFromJson, parseFlatParams, rawQuery } from '../params.js';
import { fieldFault } from '../sandbox-fault.js';

const CATEGORIES = { spot: 'spot', linear: 'linear' } as const;
const ACCOUNT_TYPES = { UNIFIED: 'UNIFIED', SPOT: 'SPOT' } as const;
const SIDES: Readonly<Record<string, OrderSide>> = { Buy: 'buy', Sell: 'sell' };
const TYPES: Readonly<Record<string, OrderType>> = { Limit: 'limit', Market: 'market' };
const TIME_IN_FORCE: Readonly<Record<string, TimeInForce>> = { GTC: 'GTC', IOC: 'IOC', FOK: 'FOK' };
const MARKET_UNITS = { baseCoin: 'base', quoteCoin: 'quote' } as const;

/** Bybit v5 (`/v5/*`): every answer is `{retCode, retMsg, result, retExtInfo, time}`. */
export function createBybitHandlers(deps: HandlerDeps): HandlerTable {
  const { ledger, clock } = deps;
  const envelope = (result: unknown): unknown => ({
    retCode: 0,
    retMsg: 'OK',
    result,
    retExtInfo: {},
    time: clock.now(),
  });
  return {
    'GET /v5/market/time': (request, reply) => {
      queryOf(request, []);
      const nowMs = clock.now();
      return reply.send(
        envelope({ timeSecond: String(Math.floor(nowMs / 1000)), timeNano: `${nowMs}000000` }),
      );
    },
    'GET /v5/account/wallet-balance': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      const query = queryOf(request, ['accountType', 'coin']);
      const accountType = query.requiredChoice('accountType', ACCOUNT_TYPES);
      const coins = query.optional('coin', ASSET_LIST_PATTERN, 'a comma list of coins');
      const coin = filterAssets(ledger.balances(accountId), coins).map((balance) => {
        const total = formatDecimal(balance.free + balance.locked);
        return {
          coin: balance.asset,
          equity: total,
          walletBalance: total,
          free: formatDecimal(balance.free),
          locked: formatDecimal(balance.locked),
          availableToWithdraw: formatDecimal(balance.free),
          usdValue: '',
          borrowAmount: '0',
          accruedInterest: '0',
          totalOrderIM: '0',
          totalPositionIM: '0',
          totalPositionMM: '0',
          unrealisedPnl: '0',
          cumRealisedPnl: '0',
          bonus: '0',
          collateralSwitch: true,
          marginCollateral: true,
        };
      });
      const account = {
        accountType,
        accountIMRate: '0',
        accountMMRate: '0',
        accountLTV: '0',
        totalEquity: '',
        totalWalletBalance: '',
        totalMarginBalance: '',
        totalAvailableBalance: '',
        totalPerpUPL: '0',
        totalInitialMargin: '0',
        totalMaintenanceMargin: '0',
        coin,
      };
      return reply.send(envelope({ list: [account] }));
    },
    'POST /v5/order/create': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      queryOf(request, []);
      const body = new ParamReader(paramsFromJson(request.body), [
        'category',
        'symbol',
        'side',
        'orderType',
        'qty',
        'price',
        'timeInForce',
        'orderLinkId',
        'marketUnit',
      ]);
      const category = body.requiredChoice('category', CATEGORIES);
      const market = resolveMarket(ledger, body.required('symbol'), 'symbol');
      const side = body.requiredChoice('side', SIDES);
      const type = body.requiredChoice('orderType', TYPES);
      const clientOrderId = body.optional('orderLinkId', CLIENT_ORDER_ID_PATTERN) ?? null;
      const terms = orderTerms(body, { category, side, type });
      const placed = unwrap(
        ledger.placeOrder(accountId, { market, side, type, ...terms, clientOrderId }),
      );
      const { order } = placed;
      return reply.send(
        envelope({ orderId: String(order.seq), orderLinkId: order.clientOrderId ?? '' }),
      );
    },
    'POST /v5/order/cancel': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      queryOf(request, []);
      const body = new ParamReader(paramsFromJson(request.body), [
        'category',
        'symbol',
        'orderId',
        'orderLinkId',
      ]);
      body.requiredChoice('category', CATEGORIES);
      const market = resolveMarket(ledger, body.required('symbol'), 'symbol');
      const orderId = body.optional('orderId', ORDER_SEQ_PATTERN, 'a numeric order id');
      const orderLinkId = body.optional('orderLinkId', CLIENT_ORDER_ID_PATTERN);
      const ref =
        orderId !== undefined
          ? { seq: Number(orderId) }
          : orderLinkId !== undefined
            ? { clientOrderId: orderLinkId }
            : undefined;
      if (!ref) throw fieldFault('orderId', 'missing');
      const canceled = unwrap(ledger.cancelOrder(accountId, ref, market.symbol));
      return reply.send(
        envelope({ orderId: String(canceled.seq), orderLinkId: canceled.clientOrderId ?? '' }),
      );
    },
  };
}

function queryOf(request: FastifyRequest, allowed: readonly string[]): ParamReader {
  return new ParamReader(parseFlatParams(rawQuery(request.url)), allowed);
}

/**
 * Quantity, price and time in force. As on Bybit, a spot market buy counts `qty` in the quote
 * coin unless `marketUnit` says baseCoin; linear orders always count in the base coin.
 */
function orderTerms(
  body: ParamReader,
  order: { category: 'spot' | 'linear'; side: OrderSide; type: OrderType },
): Pick<OrderRequest, 'amount' | 'price' | 'timeInForce'> {
  const qty = body.requiredAmount('qty');
  const timeInForce = body.choice('timeInForce', TIME_IN_FORCE) ?? 'GTC';
  if (order.type === 'limit') {
    body.forbid('marketUnit');
    return { amount: { base: qty }, price: body.requiredAmount('price'), timeInForce };
  }
  body.forbid('price');
  if (order.category !== 'spot') body.forbid('marketUnit');
  const defaultUnit = order.category === 'spot' && order.side === 'buy' ? 'quote' : 'base';
  const unit = body.choice('marketUnit', MARKET_UNITS) ?? defaultUnit;
  return { amount: unit === 'quote' ? { quote: qty } : { base: qty }, price: null, timeInForce };
}
