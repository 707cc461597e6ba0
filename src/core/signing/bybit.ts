/**
 * The Bybit v5 REST signing dialect (bybit-exchange/docs `docs/v5/guide.mdx`, "Authentication"):
 * headers `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`, `X-BAPI-SIGN`, optional `X-BAPI-RECV-WINDOW`;
 * HMAC-SHA256 hex over `timestamp + apiKey + recvWindow + (GET ? rawQuery : rawBody)`.
 */
import type { ReasonCode } from '../reasons.js';
import {
  hasHeader,
  headerValue,
  isContentType,
  isKeyIdSyntax,
  parseCanonicalInteger,
  parseEpochTimestamp,
} from './dialects/header-value.js';
import { firstDuplicateName, parseFormParams } from './dialects/parse-form-params.js';
import type { Credential, ParseResult, SignedRequest, SigningScheme, WindowRule } from './types.js';
import { decodeHexStrict, matchHmac } from './verify-bytes.js';

export const BYBIT_HEADERS = {
  key: 'x-bapi-api-key',
  timestamp: 'x-bapi-timestamp',
  sign: 'x-bapi-sign',
  recvWindow: 'x-bapi-recv-window',
} as const;
export const BYBIT_DEFAULT_RECV_WINDOW_MS = 5000;
/** Bybit documents no maximum; the gateway caps it like Binance (see docs/dialects.md). */
export const BYBIT_MAX_RECV_WINDOW_MS = 60_000;
export const BYBIT_FUTURE_TOLERANCE_MS = 1000;
const REPLAY_MARGIN_MS = 1000;

export interface BybitCredential extends Credential {
  readonly dialect: 'bybit';
  readonly recvWindowMs: number;
  /** `timestamp + apiKey + recvWindow` exactly as the headers carried them. */
  readonly prefix: string;
  /** Whether the signed payload is the query (GET) or the body (every other method). */
  readonly payloadSource: 'query' | 'body';
  readonly signature: Buffer;
}

const fail = (reason: ReasonCode): ParseResult<BybitCredential> => ({ ok: false, reason });

/**
 * Only the part Bybit signs may carry data: a GET with a body, or a POST with a query, would
 * reach the upstream with unsigned parameters. The query must be strictly flat with names that
 * start with a letter or `_`, so that a digit cannot slide between recvWindow and the query.
 */
function checkShape(request: SignedRequest, source: 'query' | 'body'): ReasonCode | undefined {
  const query = request.rawQuery ?? '';
  if (source === 'query') {
    if (request.body.length > 0) return 'BAD_REQUEST';
    if (query.length === 0) return undefined;
    const params = parseFormParams(query);
    if (params === undefined || firstDuplicateName(params) !== undefined) return 'BAD_REQUEST';
    return undefined;
  }
  if (query.length > 0) return 'BAD_REQUEST';
  if (request.body.length === 0) return undefined;
  const first = request.body[0];
  // v5 bodies are JSON objects (or arrays for batch endpoints): a body that starts with a digit
  // could be read as part of the recvWindow.
  if (!isContentType(headerValue(request.headers, 'content-type'), 'application/json')) {
    return 'BAD_REQUEST';
  }
  return first === 0x7b || first === 0x5b ? undefined : 'BAD_REQUEST';
}

/** Parses the Bybit credential; see docs/dialects.md for every refusal. */
export function parseBybit(request: SignedRequest): ParseResult<BybitCredential> {
  const keyId = headerValue(request.headers, BYBIT_HEADERS.key);
  if (keyId === undefined || keyId.length === 0) {
    return fail(
      hasHeader(request.headers, BYBIT_HEADERS.key) ? 'SIGNATURE_MALFORMED' : 'CREDENTIALS_MISSING',
    );
  }
  if (!isKeyIdSyntax(keyId)) return fail('SIGNATURE_MALFORMED');
  const timestampText = headerValue(request.headers, BYBIT_HEADERS.timestamp);
  const signText = headerValue(request.headers, BYBIT_HEADERS.sign);
  if (timestampText === undefined || signText === undefined) return fail('SIGNATURE_MALFORMED');
  const timestamp = parseEpochTimestamp(timestampText, false);
  if (timestamp === 'malformed') return fail('SIGNATURE_MALFORMED');
  if (timestamp === 'outside') return fail('TIMESTAMP_OUTSIDE_WINDOW');

  let recvWindowText = '';
  let recvWindowMs = BYBIT_DEFAULT_RECV_WINDOW_MS;
  if (hasHeader(request.headers, BYBIT_HEADERS.recvWindow)) {
    const text = headerValue(request.headers, BYBIT_HEADERS.recvWindow);
    const value = text === undefined ? undefined : parseCanonicalInteger(text, 5);
    if (
      text === undefined ||
      value === undefined ||
      value === 0 ||
      value > BYBIT_MAX_RECV_WINDOW_MS
    ) {
      return fail('SIGNATURE_MALFORMED');
    }
    recvWindowText = text;
    recvWindowMs = value;
  }
  // Bybit documents lowercase hex; the bytes are what count, so any case decodes and the
  // replay id is the lowercase form.
  const signature = decodeHexStrict(signText, 32);
  if (signature === undefined) return fail('SIGNATURE_MALFORMED');

  const payloadSource = request.method === 'GET' ? 'query' : 'body';
  const shape = checkShape(request, payloadSource);
  if (shape !== undefined) return fail(shape);
  return {
    ok: true,
    credential: {
      dialect: 'bybit',
      keyId,
      signedAtMs: timestamp.ms,
      replayId: signature.toString('hex'),
      replayTtlMs: recvWindowMs + BYBIT_FUTURE_TOLERANCE_MS + REPLAY_MARGIN_MS,
      alg: 'hmac-sha256',
      credentialHeaders: [
        BYBIT_HEADERS.key,
        BYBIT_HEADERS.timestamp,
        BYBIT_HEADERS.sign,
        BYBIT_HEADERS.recvWindow,
      ],
      forwardQuery: request.rawQuery,
      recvWindowMs,
      prefix: timestampText + keyId + recvWindowText,
      payloadSource,
      signature,
    },
  };
}

export const bybitScheme: SigningScheme<BybitCredential> = {
  dialect: 'bybit',
  detect: (request) => request.headers[BYBIT_HEADERS.key] !== undefined,
  parse: parseBybit,
  /** Bybit's rule: `server_time - recv_window <= timestamp < server_time + 1000`. */
  inWindow: (credential, nowMs, _rule: WindowRule) =>
    nowMs - credential.recvWindowMs <= credential.signedAtMs &&
    credential.signedAtMs < nowMs + BYBIT_FUTURE_TOLERANCE_MS,
  verify(credential, request, key) {
    // Bybit has no Ed25519 keys.
    if (key.scheme !== 'hmac') return -1;
    const payload =
      credential.payloadSource === 'query'
        ? credential.prefix + (request.rawQuery ?? '')
        : Buffer.concat([Buffer.from(credential.prefix), request.body]);
    return matchHmac(key.secrets, payload, credential.signature);
  },
};
