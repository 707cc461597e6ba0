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
import type { OrderRequest, OrderSide, OrderType } from '../ledger.js';
import { ParamReader, paramsFromJson, parseFlatParams, rawQuery } from '../params.js';
import { fieldFault } from '../sandbox-fault.js';

/** The sandbox is spot only: `cash` is the one trade mode. */
const TRADE_MODES = { cash: 'cash' } as const;
const SIDES: Readonly<Record<string, OrderSide>> = { buy: 'buy', sell: 'sell' };
const TYPES: Readonly<Record<string, OrderType>> = { limit: 'limit', market: 'market' };
const TARGET_CURRENCIES = { base_ccy: 'base', quote_ccy: 'quote' } as const;
const TAG_PATTERN = /^[A-Za-z0-9]{1,16}$/;

/** OKX v5 (`/api/v5/*`): every answer is `{code, msg, data: [...]}`. */
export function createOkxHandlers(deps: HandlerDeps): HandlerTable {
  const { ledger, clock } = deps;
  const envelope = (data: readonly unknown[]): unknown => ({ code: '0', msg: '', data });
  return {
    'GET /api/v5/public/time': (request, reply) => {
      queryOf(request, []);
      return reply.send(envelope([{ ts: String(clock.now()) }]));
    },
    'GET /api/v5/account/balance': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      const ccy = queryOf(request, ['ccy']).optional('ccy', ASSET_LIST_PATTERN, 'a comma list');
      const nowMs = String(clock.now());
      const details = filterAssets(ledger.balances(accountId), ccy).map((balance) => {
        const total = formatDecimal(balance.free + balance.locked);
        return {
          ccy: balance.asset,
          eq: total,
          cashBal: total,
          availBal: formatDecimal(balance.free),
          availEq: formatDecimal(balance.free),
          frozenBal: formatDecimal(balance.locked),
          ordFrozen: formatDecimal(balance.locked),
          disEq: '',
          eqUsd: '',
          upl: '0',
          uTime: nowMs,
        };
      });
      return reply.send(
        envelope([
          { totalEq: '', adjEq: '', imr: '', mmr: '', isoEq: '', upl: '', uTime: nowMs, details },
        ]),
      );
    },
    'POST /api/v5/trade/order': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      queryOf(request, []);
      const body = new ParamReader(paramsFromJson(request.body), [
        'instId',
        'tdMode',
        'side',
        'ordType',
        'sz',
        'px',
        'clOrdId',
        'tag',
        'tgtCcy',
      ]);
      const market = resolveMarket(ledger, body.required('instId'), 'instId');
      body.requiredChoice('tdMode', TRADE_MODES);
      const side = body.requiredChoice('side', SIDES);
      const type = body.requiredChoice('ordType', TYPES);
      const clientOrderId = body.optional('clOrdId', CLIENT_ORDER_ID_PATTERN) ?? null;
      const tag = body.optional('tag', TAG_PATTERN) ?? '';
      const terms = orderTerms(body, side, type);
      const { order } = unwrap(
        ledger.placeOrder(accountId, { market, side, type, ...terms, clientOrderId }),
        { orderId: '', clientOrderId: clientOrderId ?? '' },
      );
      return reply.send(
        envelope([
          {
            ordId: String(order.seq),
            clOrdId: order.clientOrderId ?? '',
            tag,
            ts: String(order.createdAtMs),
            sCode: '0',
            sMsg: 'Order placed',
          },
        ]),
      );
    },
    'POST /api/v5/trade/cancel-order': (request, reply) => {
      const { accountId } = requireIdentity(request.headers);
      queryOf(request, []);
      const body = new ParamReader(paramsFromJson(request.body), ['instId', 'ordId', 'clOrdId']);
      const market = resolveMarket(ledger, body.required('instId'), 'instId');
      const ordId = body.optional('ordId', ORDER_SEQ_PATTERN, 'a numeric order id');
      const clOrdId = body.optional('clOrdId', CLIENT_ORDER_ID_PATTERN);
      const ref =
        ordId !== undefined
          ? { seq: Number(ordId) }
          : clOrdId !== undefined
            ? { clientOrderId: clOrdId }
            : undefined;
      if (!ref) throw fieldFault('ordId', 'missing');
      const canceled = unwrap(ledger.cancelOrder(accountId, ref, market.symbol), {
        orderId: ordId ?? '',
        clientOrderId: clOrdId ?? '',
      });
      return reply.send(
        envelope([
          {
            ordId: String(canceled.seq),
            clOrdId: canceled.clientOrderId ?? '',
            ts: String(canceled.updatedAtMs),
            sCode: '0',
            sMsg: '',
          },
        ]),
      );
    },
  };
}

function queryOf(request: FastifyRequest, allowed: readonly string[]): ParamReader {
  return new ParamReader(parseFlatParams(rawQuery(request.url)), allowed);
}

/** As on OKX spot, a market buy's `sz` is in the quote currency unless tgtCcy says base_ccy. */
function orderTerms(
  body: ParamReader,
  side: OrderSide,
  type: OrderType,
): Pick<OrderRequest, 'amount' | 'price' | 'timeInForce'> {
  const sz = body.requiredAmount('sz');
  if (type === 'limit') {
    body.forbid('tgtCcy');
    return { amount: { base: sz }, price: body.requiredAmount('px'), timeInForce: 'GTC' };
  }
  body.forbid('px');
  const unit = body.choice('tgtCcy', TARGET_CURRENCIES) ?? (side === 'buy' ? 'quote' : 'base');
  return {
    amount: unit === 'quote' ? { quote: sz } : { base: sz },
    price: null,
    timeInForce: 'GTC',
  };
}
