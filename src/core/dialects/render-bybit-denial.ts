/**
 * Bybit v5 envelope `{"retCode","retMsg","result":{},"retExtInfo":{},"time"}`
 * (bybit-exchange/docs `docs/v5/error.mdx`). Bybit answers API errors with HTTP 200 and a
 * non-zero retCode; ccxt's bybit `handleErrors` matches `exceptions.broad` against the whole
 * body, then retCode (`exceptions.exact`), whatever the status. See docs/dialects.md.
 */
import {
  lookupRow,
  retryAfterHeader,
  type DenialContext,
  type DenialReason,
  type DialectError,
  type RenderedDenial,
} from './denial.js';

const SIGN: DialectError<number> = {
  status: 200,
  code: 10004,
  message: 'Error sign, please check your signature generation algorithm.',
};
const WINDOW: DialectError<number> = {
  status: 200,
  code: 10002,
  message: 'The request time exceeds the time window range.',
};
const KEY: DialectError<number> = { status: 200, code: 10003, message: 'API key is invalid.' };
const PERMISSION: DialectError<number> = {
  status: 200,
  code: 10005,
  message: 'Permission denied, please check your API key permissions.',
};
const PARAMS: DialectError<number> = { status: 200, code: 10001, message: 'Params error.' };
const SYSTEM: DialectError<number> = {
  status: 503,
  code: 10016,
  message: 'System error. Please try again later.',
};

export const BYBIT_DENIALS: Readonly<Record<string, DialectError<number>>> = {
  CREDENTIALS_MISSING: { ...KEY, message: 'API key is missing.' },
  SIGNATURE_MALFORMED: { ...PARAMS, message: 'Params error: signature headers are malformed.' },
  SIGNATURE_INVALID: SIGN,
  TIMESTAMP_OUTSIDE_WINDOW: WINDOW,
  NONCE_REPLAYED: { ...WINDOW, message: 'This signed request was already received.' },
  REPLAY_CHECK_UNAVAILABLE: SYSTEM,
  DIGEST_MISMATCH: SIGN,
  KEY_REVOKED: KEY,
  KEY_EXPIRED: KEY,
  ENV_MISMATCH: {
    ...KEY,
    message: 'API key is invalid. Check whether the key and domain are matched.',
  },
  PASSPHRASE_INVALID: KEY,
  IP_NOT_ALLOWED: {
    status: 200,
    code: 10010,
    message: "Unmatched IP, please check your API key's bound IP addresses.",
  },
  KEY_DISABLED: PERMISSION,
  KEY_STEPPED_DOWN: PERMISSION,
  SCOPE_MISSING: PERMISSION,
  ROUTE_UNKNOWN: {
    status: 404,
    code: 10017,
    message: 'Request path not found or request method is invalid.',
  },
  BAD_REQUEST: PARAMS,
  BODY_TOO_LARGE: { ...PARAMS, status: 413, message: 'Params error: body too large.' },
  // ccxt matches the substring 'Request timeout' to RequestTimeout (exceptions.broad).
  UPSTREAM_TIMEOUT: { ...SYSTEM, status: 504, message: 'Request timeout, please try again later.' },
  UPSTREAM_UNAVAILABLE: { ...SYSTEM, status: 502 },
  UPSTREAM_NOT_RETRIED: { ...SYSTEM, status: 502 },
  UPSTREAM_NO_HEALTHY_TARGET: { ...SYSTEM, status: 503 },
  RATE_LIMITED: {
    status: 200,
    code: 10006,
    message: 'Too many visits. Exceeded the API Rate Limit.',
  },
  RATE_LIMIT_UNAVAILABLE: SYSTEM,
  IP_BANNED: { status: 403, code: 10018, message: 'Exceeded the IP Rate Limit.' },
  POLICY_DENIED: { ...PERMISSION, message: 'Permission denied by a policy.' },
  AMOUNT_LIMIT_EXCEEDED: { ...PERMISSION, message: 'Withdrawal amount limit exceeded.' },
  ADDRESS_NOT_ALLOWED: { ...PERMISSION, message: 'Withdrawal address not whitelisted.' },
  STORE_UNAVAILABLE: SYSTEM,
  BODY_NOT_VISIBLE: {
    ...PERMISSION,
    message: 'Request body not visible to the check; use the proxy.',
  },
  ADDRESS_COOLING_DOWN: { ...PERMISSION, message: 'Withdrawal address is cooling down.' },
  ALLOWANCE_EXCEEDED: { ...PERMISSION, message: 'Spend allowance of the API key exceeded.' },
  ALLOWANCE_EXPIRED: { ...PERMISSION, message: 'Spend allowance of the API key has expired.' },
  APPROVAL_REQUIRED: { ...PERMISSION, message: 'Permission denied: this request needs approval.' },
};

function fallback(status: number): DialectError<number> {
  if (status === 429) return BYBIT_DENIALS.RATE_LIMITED ?? SYSTEM;
  if (status === 401) return KEY;
  if (status === 403) return PERMISSION;
  return status >= 500 ? SYSTEM : PARAMS;
}

/** Renders a denial as Bybit v5 would answer it. */
export function renderBybitDenial(reason: DenialReason, ctx: DenialContext): RenderedDenial {
  const row = lookupRow(BYBIT_DENIALS, reason, fallback);
  return {
    status: row.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...retryAfterHeader(ctx) },
    body: JSON.stringify({
      retCode: row.code,
      retMsg: row.message,
      result: {},
      retExtInfo: {},
      time: ctx.nowMs,
    }),
  };
}
