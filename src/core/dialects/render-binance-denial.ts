/**
 * Binance error envelope `{"code":-1022,"msg":"…"}` (binance-spot-api-docs `errors.md`). ccxt's
 * binance `handleErrors` raises DDoSProtection on HTTP 418/429, then matches `msg` exactly, then
 * `code` (`exceptions.exact`); the other statuses do not change the class. See docs/dialects.md.
 */
import {
  lookupRow,
  retryAfterHeader,
  type DenialContext,
  type DenialReason,
  type DialectError,
  type RenderedDenial,
} from './denial.js';

const SIGNATURE: DialectError<number> = {
  status: 400,
  code: -1022,
  message: 'Signature for this request is not valid.',
};
const WINDOW: DialectError<number> = {
  status: 400,
  code: -1021,
  message: 'Timestamp for this request is outside of the recvWindow.',
};
const KEY: DialectError<number> = {
  status: 401,
  code: -2015,
  message: 'Invalid API-key, IP, or permissions for action.',
};
/** ccxt matches this exact message to PermissionDenied before looking at the code. */
const NOT_AUTHORIZED: DialectError<number> = {
  status: 401,
  code: -1002,
  message: 'You are not authorized to execute this request.',
};
const MALFORMED: DialectError<number> = {
  status: 400,
  code: -1102,
  message: 'A mandatory parameter was not sent, was empty/null, or malformed.',
};
const BAD_PARAMS: DialectError<number> = {
  status: 400,
  code: -1101,
  message: 'Duplicate, ambiguous or malformed parameters.',
};
const INTERNAL: DialectError<number> = {
  status: 503,
  code: -1001,
  message: 'Internal error; unable to process your request. Please try again.',
};

export const BINANCE_DENIALS: Readonly<Record<string, DialectError<number>>> = {
  CREDENTIALS_MISSING: { status: 401, code: -2014, message: 'API-key format invalid.' },
  SIGNATURE_MALFORMED: MALFORMED,
  SIGNATURE_INVALID: SIGNATURE,
  TIMESTAMP_OUTSIDE_WINDOW: WINDOW,
  NONCE_REPLAYED: { ...WINDOW, message: 'This signed request was already received.' },
  REPLAY_CHECK_UNAVAILABLE: INTERNAL,
  DIGEST_MISMATCH: SIGNATURE,
  KEY_REVOKED: KEY,
  KEY_EXPIRED: KEY,
  ENV_MISMATCH: KEY,
  PASSPHRASE_INVALID: KEY,
  IP_NOT_ALLOWED: KEY,
  KEY_DISABLED: KEY,
  KEY_STEPPED_DOWN: KEY,
  SCOPE_MISSING: KEY,
  ROUTE_UNKNOWN: { status: 404, code: -1020, message: 'This operation is not supported.' },
  BAD_REQUEST: BAD_PARAMS,
  BODY_TOO_LARGE: {
    status: 413,
    code: -1101,
    message: 'Too many parameters sent for this endpoint.',
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    code: -1007,
    message:
      'Timeout waiting for response from backend server. Send status unknown; execution status unknown.',
  },
  UPSTREAM_UNAVAILABLE: { ...INTERNAL, status: 502 },
  UPSTREAM_NOT_RETRIED: {
    status: 502,
    code: -1007,
    message: 'Connection to backend server lost. Send status unknown; execution status unknown.',
  },
  UPSTREAM_NO_HEALTHY_TARGET: INTERNAL,
  RATE_LIMITED: {
    status: 429,
    code: -1003,
    message: 'Too much request weight used; please use the websocket for live updates.',
  },
  RATE_LIMIT_UNAVAILABLE: INTERNAL,
  IP_BANNED: { status: 418, code: -1003, message: 'Way too much request weight used; IP banned.' },
  POLICY_DENIED: NOT_AUTHORIZED,
  AMOUNT_LIMIT_EXCEEDED: NOT_AUTHORIZED,
  ADDRESS_NOT_ALLOWED: NOT_AUTHORIZED,
  STORE_UNAVAILABLE: INTERNAL,
  BODY_NOT_VISIBLE: NOT_AUTHORIZED,
  ADDRESS_COOLING_DOWN: NOT_AUTHORIZED,
  ALLOWANCE_EXCEEDED: NOT_AUTHORIZED,
  ALLOWANCE_EXPIRED: NOT_AUTHORIZED,
  APPROVAL_REQUIRED: NOT_AUTHORIZED,
};

function fallback(status: number): DialectError<number> {
  if (status === 429) return BINANCE_DENIALS.RATE_LIMITED ?? INTERNAL;
  if (status === 401) return KEY;
  if (status === 403) return NOT_AUTHORIZED;
  return status >= 500 ? INTERNAL : BAD_PARAMS;
}

/** Renders a denial as Binance would answer it. */
export function renderBinanceDenial(reason: DenialReason, ctx: DenialContext): RenderedDenial {
  const row = lookupRow(BINANCE_DENIALS, reason, fallback);
  return {
    status: row.status,
    headers: { 'content-type': 'application/json;charset=UTF-8', ...retryAfterHeader(ctx) },
    body: JSON.stringify({ code: row.code, msg: row.message }),
  };
}
