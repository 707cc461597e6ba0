/**
 * Pure client-side signers for the exchange dialects: what Binance, Bybit and OKX clients (ccxt
 * among them) send. Used by tests and end-to-end tests; the gateway itself only verifies.
 */
import { sign as signBytes, type KeyObject } from 'node:crypto';
import { hmacSha256 } from '../verify-bytes.js';

export type BinanceSigningKey =
  | { readonly apiKey: string; readonly secret: string }
  | { readonly apiKey: string; readonly privateKey: KeyObject };

export interface BinanceSignInput {
  /** Already-encoded parameters, e.g. `symbol=LTCBTC&side=BUY` (may be empty). */
  readonly params: string;
  /** Appended as `timestamp=` when given (leave out when `params` already has it). */
  readonly timestampMs?: number;
  /** Appended as `recvWindow=` when given. */
  readonly recvWindowMs?: number;
  /** Where the parameters go: the query (GET/DELETE) or a form body (ccxt's POST/PUT). */
  readonly placement: 'query' | 'body';
}

export interface SignedParts {
  readonly headers: Record<string, string>;
  /** Raw query without `?`, or null for none. */
  readonly rawQuery: string | null;
  readonly body: string;
}

/** The Binance signature of a payload: HMAC hex, or Ed25519 base64 percent-encoded. */
export function binanceSignature(key: BinanceSigningKey, payload: string): string {
  if ('secret' in key) return hmacSha256(Buffer.from(key.secret), payload).toString('hex');
  return encodeURIComponent(
    signBytes(null, Buffer.from(payload), key.privateKey).toString('base64'),
  );
}

/** Signs a Binance REST request; `signature` goes last, as ccxt sends it. */
export function signBinance(key: BinanceSigningKey, input: BinanceSignInput): SignedParts {
  const parts: string[] = [];
  if (input.params.length > 0) parts.push(input.params);
  if (input.timestampMs !== undefined) parts.push(`timestamp=${input.timestampMs}`);
  if (input.recvWindowMs !== undefined) parts.push(`recvWindow=${input.recvWindowMs}`);
  const payload = parts.join('&');
  const signed = `${payload}&signature=${binanceSignature(key, payload)}`;
  const headers: Record<string, string> = { 'x-mbx-apikey': key.apiKey };
  if (input.placement === 'query') return { headers, rawQuery: signed, body: '' };
  headers['content-type'] = 'application/x-www-form-urlencoded';
  return { headers, rawQuery: null, body: signed };
}

export interface HmacSigningKey {
  readonly apiKey: string;
  readonly secret: string;
}

export interface BybitSignInput {
  readonly method: string;
  readonly rawQuery: string | null;
  readonly body: string;
  readonly timestampMs: number;
  /** Sent as `X-BAPI-RECV-WINDOW` unless null (then the header is left out). */
  readonly recvWindowMs?: number | null | undefined;
}

/** Signs a Bybit v5 request: `timestamp + apiKey + recvWindow + (GET ? query : body)`, hex. */
export function signBybit(key: HmacSigningKey, input: BybitSignInput): Record<string, string> {
  const recvWindow = input.recvWindowMs === null ? '' : String(input.recvWindowMs ?? 5000);
  const payload = input.method === 'GET' ? (input.rawQuery ?? '') : input.body;
  const plain = `${input.timestampMs}${key.apiKey}${recvWindow}${payload}`;
  const headers: Record<string, string> = {
    'x-bapi-api-key': key.apiKey,
    'x-bapi-timestamp': String(input.timestampMs),
    'x-bapi-sign': hmacSha256(Buffer.from(key.secret), plain).toString('hex'),
  };
  if (recvWindow !== '') headers['x-bapi-recv-window'] = recvWindow;
  if (input.method !== 'GET') headers['content-type'] = 'application/json';
  return headers;
}

export interface OkxSigningKey extends HmacSigningKey {
  readonly passphrase: string;
}

export interface OkxSignInput {
  readonly method: string;
  readonly path: string;
  readonly rawQuery: string | null;
  readonly body: string;
  readonly timestampMs: number;
}

/** Signs an OKX v5 request: base64 HMAC of `iso8601 + METHOD + path(?query) + body`. */
export function signOkx(key: OkxSigningKey, input: OkxSignInput): Record<string, string> {
  const timestamp = new Date(input.timestampMs).toISOString();
  const target = input.rawQuery === null ? input.path : `${input.path}?${input.rawQuery}`;
  const prehash = `${timestamp}${input.method}${target}${input.body}`;
  const headers: Record<string, string> = {
    'ok-access-key': key.apiKey,
    'ok-access-sign': hmacSha256(Buffer.from(key.secret), prehash).toString('base64'),
    'ok-access-timestamp': timestamp,
    'ok-access-passphrase': key.passphrase,
  };
  if (input.body.length > 0) headers['content-type'] = 'application/json';
  return headers;
}
