/**
 * What each WebSocket message means in the route table's terms (docs/websocket.md §3): a message
 * is authorized as the REST request that does the same thing, so scopes, weights, order-rate
 * limits and policy parameters are the route table's and mean the same on both transports.
 */

/** A client message of the gateway's protocol: `{"id": …, "method": "order.place", "params": {…}}`. */
export interface WsRequest {
  readonly id: string | number | null;
  readonly method: string;
  readonly params: Readonly<Record<string, unknown>>;
}

/** One REST-equivalent check of a message: a subscription to two streams is two checks. */
export interface WsActionCheck {
  readonly method: string;
  readonly path: string;
  /** The body policies extract parameters from (the order, for order.place); made on demand. */
  body(): Buffer;
}

export type WsMapping =
  | { readonly ok: true; readonly checks: readonly WsActionCheck[] }
  | { readonly ok: false; readonly reason: 'BAD_REQUEST' | 'ROUTE_UNKNOWN' };

const EMPTY = Buffer.alloc(0);
function emptyBody(): Buffer {
  return EMPTY;
}

/** The private streams a session may subscribe to, and the read they amount to. */
export const WS_STREAM_ROUTES: Readonly<Record<string, WsActionCheck>> = {
  orders: { method: 'GET', path: '/api/v1/orders', body: emptyBody },
  balances: { method: 'GET', path: '/api/v1/balances', body: emptyBody },
};

const ORDER_ID = /^ord_[1-9]\d{0,14}$/;
const NONE: readonly WsActionCheck[] = Object.freeze([]);

/** Maps a message to its checks; `ping` and `unsubscribe` need none beyond a valid key. */
export function mapWsRequest(request: WsRequest): WsMapping {
  switch (request.method) {
    case 'order.place':
      return {
        ok: true,
        checks: [
          {
            method: 'POST',
            path: '/api/v1/orders',
            body: () => Buffer.from(JSON.stringify(request.params)),
          },
        ],
      };
    case 'order.cancel': {
      const id = request.params.orderId;
      if (typeof id !== 'string' || !ORDER_ID.test(id)) return { ok: false, reason: 'BAD_REQUEST' };
      return {
        ok: true,
        checks: [{ method: 'DELETE', path: `/api/v1/orders/${id}`, body: emptyBody }],
      };
    }
    case 'subscribe': {
      const streams = streamsOf(request.params);
      if (streams === undefined) return { ok: false, reason: 'BAD_REQUEST' };
      const checks: WsActionCheck[] = [];
      for (const stream of streams) {
        const check = WS_STREAM_ROUTES[stream];
        if (check === undefined) return { ok: false, reason: 'BAD_REQUEST' };
        checks.push(check);
      }
      return { ok: true, checks };
    }
    case 'unsubscribe':
      return streamsOf(request.params) === undefined
        ? { ok: false, reason: 'BAD_REQUEST' }
        : { ok: true, checks: NONE };
    case 'ping':
      return { ok: true, checks: NONE };
    default:
      return { ok: false, reason: 'ROUTE_UNKNOWN' };
  }
}

/** The stream names of a (un)subscribe, or undefined when malformed. */
export function streamsOf(params: Readonly<Record<string, unknown>>): string[] | undefined {
  const list = params.streams;
  if (!Array.isArray(list) || list.length === 0 || list.length > 8) return undefined;
  const names: string[] = [];
  for (const item of list) {
    if (typeof item !== 'string' || !Object.hasOwn(WS_STREAM_ROUTES, item)) return undefined;
    if (!names.includes(item)) names.push(item);
  }
  return names;
}

/** Parses a client frame; undefined when it is not a JSON object with a string `method`. */
export function parseWsRequest(text: string): Readonly<Record<string, unknown>> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}

/** The request shape of a parsed object, or undefined (bad id, method or params). */
export function toWsRequest(value: Readonly<Record<string, unknown>>): WsRequest | undefined {
  const { id, method, params } = value;
  if (typeof method !== 'string' || method.length > 64) return undefined;
  let okId: WsRequest['id'];
  if (id === undefined || id === null) okId = null;
  else if (typeof id === 'number' && Number.isSafeInteger(id)) okId = id;
  else if (typeof id === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(id)) okId = id;
  else return undefined;
  if (params === undefined) return { id: okId, method, params: {} };
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  return { id: okId, method, params: params as Record<string, unknown> };
}
