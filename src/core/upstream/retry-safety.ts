/**
 * Which requests may be sent to a second upstream target after the first one failed. Sending a
 * request twice is harmless only when the upstream can recognise the second copy: reads, and
 * writes that carry the client's own idempotency key or client order id (the engine refuses a
 * duplicate id). Everything else is sent at most once (docs/deployment.md, "Upstream failover").
 */
import type { Dialect, HeaderBag } from '../signing/types.js';

export interface RetryCandidate {
  readonly method: string;
  readonly dialect: Dialect;
  /** The query as forwarded, without `?`; null when there is none. */
  readonly query: string | null;
  readonly headers: HeaderBag;
  /** The body bytes as forwarded. */
  readonly body: Buffer;
}

/** How an attempt on one target failed, as far as the gateway can know. */
export type AttemptFailure =
  /** The connection was never made (refused, unresolvable, connect timeout): nothing was sent. */
  | 'not_sent'
  /** The request may have reached the target (reset or closed mid-exchange). */
  | 'maybe_sent'
  /** The target took the request and did not answer in time. */
  | 'timeout'
  /** The target answered with a 5xx status. */
  | 'server_error';

const MAX_ID_LENGTH = 255;
/** Binance's `newClientOrderId` pattern (spot API: `^[\.A-Z\:/a-z0-9_-]{1,36}$`), a little wider. */
const ID_PATTERN = /^[\x21-\x7e]{1,255}$/;

const isId = (value: unknown): boolean =>
  typeof value === 'string' && value.length <= MAX_ID_LENGTH && ID_PATTERN.test(value);

/** Exactly one well-formed value of `name` in a form-encoded string. */
function formHasId(encoded: string | null, name: string): boolean {
  if (encoded === null || encoded === '') return false;
  const values = new URLSearchParams(encoded).getAll(name);
  return values.length === 1 && isId(values[0]);
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A JSON object with the id, or a non-empty batch in which every item has one. */
function jsonHasId(value: unknown, name: string, batchField?: string): boolean {
  const items = Array.isArray(value)
    ? value
    : batchField !== undefined && isObject(value) && Array.isArray(value[batchField])
      ? (value[batchField] as unknown[])
      : [value];
  return items.length > 0 && items.every((item) => isObject(item) && isId(item[name]));
}

function headerId(headers: HeaderBag, name: string): boolean {
  const value = headers[name];
  return typeof value === 'string' && isId(value);
}

/**
 * True when a second copy of the request is harmless: GET and HEAD, or a write carrying the
 * dialect's idempotency key — native `Idempotency-Key` header or `clientOrderId`, Binance
 * `newClientOrderId` (query or form body), Bybit `orderLinkId`, OKX `clOrdId` (JSON body; in a
 * batch, on every item).
 */
export function isRetrySafe(request: RetryCandidate): boolean {
  const method = request.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD') return true;
  switch (request.dialect) {
    case 'native':
      return (
        headerId(request.headers, 'idempotency-key') ||
        jsonHasId(parseJson(request.body), 'clientOrderId')
      );
    case 'binance':
      return (
        formHasId(request.query, 'newClientOrderId') ||
        formHasId(
          request.body.length > 0 ? request.body.toString('utf8') : null,
          'newClientOrderId',
        )
      );
    case 'bybit':
      return jsonHasId(parseJson(request.body), 'orderLinkId', 'request');
    case 'okx':
      return jsonHasId(parseJson(request.body), 'clOrdId');
  }
}

/**
 * Whether the next target may be tried after a failed attempt. A request that never left may
 * always go elsewhere (it is not a retry: nothing was sent); one that may have reached the
 * target only when a second copy is harmless.
 */
export function mayTryNextTarget(failure: AttemptFailure, retrySafe: boolean): boolean {
  return failure === 'not_sent' || retrySafe;
}
