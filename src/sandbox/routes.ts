import type { Scope } from '../core/keys/model.js';

export type SandboxDialect = 'native' | 'binance' | 'bybit' | 'okx';

export type SandboxAction =
  | 'account.read'
  | 'balance.read'
  | 'order.place'
  | 'order.cancel'
  | 'order.list'
  | 'withdrawal.create'
  | 'time.read'
  | 'health.read';

export type SandboxMethod = 'GET' | 'POST' | 'DELETE';

/** One upstream route as the gateway sees it: what it does, the scope it needs, its weight. */
export interface SandboxRoute {
  readonly method: SandboxMethod;
  /** Path pattern; `:name` segments are parameters. */
  readonly path: string;
  readonly action: SandboxAction;
  /** The scope the key needs; null for public routes. */
  readonly scope: Scope | null;
  /** Rate-limit weight, Binance-like (account 20, order 1, open orders 6). */
  readonly weight: number;
  readonly dialect: SandboxDialect;
  /** Parameter extractors (CEL over query/body) for policies and withdrawal rules. */
  readonly params?: Readonly<Record<string, string>>;
}

function route(
  dialect: SandboxDialect,
  method: SandboxMethod,
  path: string,
  action: SandboxAction,
  scope: Scope | null,
  weight: number,
): SandboxRoute {
  const extract = PARAMS[`${dialect} ${action}`];
  return Object.freeze({
    method,
    path,
    action,
    scope,
    weight,
    dialect,
    ...(extract ? { params: extract } : {}),
  });
}

const NATIVE_ORDER = {
  symbol: 'body.symbol',
  side: 'body.side',
  orderType: 'body.type',
  quantity: 'body.quantity',
  price: 'body.price',
  notional: 'double(body.quantity) * double(body.price)',
} as const;

/** A Binance parameter: in the query string or in the form body (the scheme refuses both at once). */
const binance = (name: string): string => `(has(query.${name}) ? query.${name} : body.${name})`;

/**
 * The order parameters of a JSON-bodied dialect (Bybit, OKX), given its field names and the
 * condition under which a market order's size is in the quote asset.
 */
function jsonOrder(fields: {
  readonly symbol: string;
  readonly type: string;
  readonly size: string;
  readonly price: string;
  readonly quoteSized: string;
}): Readonly<Record<string, string>> {
  const { symbol, type, size, price, quoteSized } = fields;
  return {
    symbol: `body.${symbol}`,
    side: 'body.side.lowerAscii()',
    orderType: `body.${type}.lowerAscii()`,
    quantity: `${quoteSized} ? absent() : body.${size}`,
    price: `body.${price}`,
    notional: `${quoteSized} ? body.${size} : double(body.${size}) * double(body.${price})`,
  };
}

/**
 * What policies and spend allowances see of each action (docs/policies.md §2.1), the same
 * parameters whichever dialect the client speaks: `side` and `orderType` in lower case (BUY,
 * Buy and buy are all `buy`), `quantity` in the base asset, `price` in the quote asset, and
 * `notional` = quantity × price, or the quote amount of a market order sized in the quote
 * asset (Binance quoteOrderQty, a Bybit or OKX spot market buy), which then has no `quantity`.
 * `symbol` is the instrument as the dialect names it (BTCUSDT, BTC-USDT).
 */
const PARAMS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'native order.place': NATIVE_ORDER,
  'native withdrawal.create': {
    asset: 'body.asset',
    amount: 'body.amount',
    address: 'body.address',
  },
  'binance order.place': {
    symbol: binance('symbol'),
    side: `${binance('side')}.lowerAscii()`,
    orderType: `${binance('type')}.lowerAscii()`,
    quantity: binance('quantity'),
    price: binance('price'),
    notional:
      `has(query.quoteOrderQty) || has(body.quoteOrderQty) ? ${binance('quoteOrderQty')} : ` +
      `double(${binance('quantity')}) * double(${binance('price')})`,
  },
  // A Bybit spot market buy counts `qty` in the quote coin unless `marketUnit` says baseCoin.
  'bybit order.place': jsonOrder({
    symbol: 'symbol',
    type: 'orderType',
    size: 'qty',
    price: 'price',
    quoteSized:
      'body.orderType == "Market" && (has(body.marketUnit) ? body.marketUnit == "quoteCoin" : ' +
      'body.category == "spot" && body.side == "Buy")',
  }),
  // An OKX spot market buy counts `sz` in the quote currency unless `tgtCcy` says base_ccy.
  'okx order.place': jsonOrder({
    symbol: 'instId',
    type: 'ordType',
    size: 'sz',
    price: 'px',
    quoteSized:
      'body.ordType == "market" && (has(body.tgtCcy) ? body.tgtCcy == "quote_ccy" : body.side == "buy")',
  }),
};

/**
 * The default route table the gateway uses in front of the sandbox. Every dialect maps onto the
 * same actions and scopes, so one key's permissions mean the same thing whichever client it uses.
 */
export const SANDBOX_ROUTES: readonly SandboxRoute[] = Object.freeze([
  route('native', 'GET', '/health', 'health.read', null, 1),
  route('native', 'GET', '/api/v1/time', 'time.read', null, 1),
  route('native', 'GET', '/api/v1/account', 'account.read', 'read', 20),
  route('native', 'GET', '/api/v1/balances', 'balance.read', 'read', 10),
  route('native', 'POST', '/api/v1/orders', 'order.place', 'trade', 1),
  route('native', 'DELETE', '/api/v1/orders/:id', 'order.cancel', 'trade', 1),
  route('native', 'GET', '/api/v1/orders', 'order.list', 'read', 6),
  route('native', 'POST', '/api/v1/withdrawals', 'withdrawal.create', 'withdraw', 10),

  route('binance', 'GET', '/api/v3/time', 'time.read', null, 1),
  route('binance', 'GET', '/api/v3/account', 'account.read', 'read', 20),
  route('binance', 'POST', '/api/v3/order', 'order.place', 'trade', 1),
  route('binance', 'DELETE', '/api/v3/order', 'order.cancel', 'trade', 1),
  route('binance', 'GET', '/api/v3/openOrders', 'order.list', 'read', 6),

  route('bybit', 'GET', '/v5/market/time', 'time.read', null, 1),
  route('bybit', 'GET', '/v5/account/wallet-balance', 'balance.read', 'read', 10),
  route('bybit', 'POST', '/v5/order/create', 'order.place', 'trade', 1),
  route('bybit', 'POST', '/v5/order/cancel', 'order.cancel', 'trade', 1),

  route('okx', 'GET', '/api/v5/public/time', 'time.read', null, 1),
  route('okx', 'GET', '/api/v5/account/balance', 'balance.read', 'read', 10),
  route('okx', 'POST', '/api/v5/trade/order', 'order.place', 'trade', 1),
  route('okx', 'POST', '/api/v5/trade/cancel-order', 'order.cancel', 'trade', 1),
]);

/** The dialect a request path belongs to, for rendering errors on unknown paths too. */
export function dialectOfPath(url: string): SandboxDialect {
  if (url.startsWith('/api/v3/')) return 'binance';
  if (url.startsWith('/api/v5/')) return 'okx';
  if (url.startsWith('/v5/')) return 'bybit';
  return 'native';
}

/** `GET /api/v1/account` — the key handlers are looked up by. */
export function routeKey(route: Pick<SandboxRoute, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}
