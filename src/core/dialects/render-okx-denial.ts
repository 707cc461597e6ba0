/**
 * OKX v5 envelope `{"code":"50113","msg":"…","data":[]}` with the HTTP statuses of OKX's
 * error-code table ("Error Code → REST API → Public"). ccxt's okx `handleErrors` matches `code`
 * (`exceptions.exact`) for any status. See docs/dialects.md.
 */
import {
  lookupRow,
  retryAfterHeader,
  type DenialContext,
  type DenialReason,
  type DialectError,
  type RenderedDenial,
} from './denial.js';

const SIGN: DialectError<string> = { status: 401, code: '50113', message: 'Invalid Sign' };
const EXPIRED: DialectError<string> = {
  status: 401,
  code: '50102',
  message: 'Timestamp request expired',
};
const KEY: DialectError<string> = { status: 401, code: '50111', message: 'Invalid OK-ACCESS-KEY' };
/** OKX's own "no permission" code; ccxt 4.5.84 does not map it, so it raises ExchangeError. */
const PERMISSION: DialectError<string> = {
  status: 200,
  code: '50120',
  message: "This API key doesn't have permission to use this function",
};
const PARAMS: DialectError<string> = { status: 400, code: '51000', message: 'Parameter error' };
const BUSY: DialectError<string> = {
  status: 503,
  code: '50013',
  message: 'System is busy, please try again later',
};
const RATE: DialectError<string> = { status: 429, code: '50011', message: 'Too Many Requests' };

export const OKX_DENIALS: Readonly<Record<string, DialectError<string>>> = {
  CREDENTIALS_MISSING: {
    status: 401,
    code: '50103',
    message: 'Request header OK-ACCESS-KEY cannot be empty.',
  },
  SIGNATURE_MALFORMED: { status: 401, code: '50114', message: 'Invalid Authority' },
  SIGNATURE_INVALID: SIGN,
  TIMESTAMP_OUTSIDE_WINDOW: EXPIRED,
  NONCE_REPLAYED: { ...EXPIRED, message: 'This signed request was already received.' },
  REPLAY_CHECK_UNAVAILABLE: BUSY,
  DIGEST_MISMATCH: SIGN,
  KEY_REVOKED: KEY,
  KEY_EXPIRED: KEY,
  ENV_MISMATCH: {
    status: 401,
    code: '50101',
    message: 'APIKey does not match current environment.',
  },
  PASSPHRASE_INVALID: {
    status: 401,
    code: '50105',
    message: 'Request header OK-ACCESS-PASSPHRASE incorrect.',
  },
  IP_NOT_ALLOWED: {
    status: 401,
    code: '50110',
    message: "Your IP is not included in your API key's IP whitelist.",
  },
  KEY_DISABLED: PERMISSION,
  KEY_STEPPED_DOWN: PERMISSION,
  SCOPE_MISSING: PERMISSION,
  ROUTE_UNKNOWN: { status: 404, code: '50115', message: 'Invalid request method or path.' },
  BAD_REQUEST: PARAMS,
  BODY_TOO_LARGE: { ...PARAMS, status: 413, message: 'Request body too large.' },
  UPSTREAM_TIMEOUT: {
    status: 504,
    code: '50004',
    message: 'Endpoint request timeout (does not indicate success or failure of order).',
  },
  UPSTREAM_UNAVAILABLE: {
    status: 503,
    code: '50005',
    message: 'API is offline or unavailable.',
  },
  UPSTREAM_NOT_RETRIED: {
    status: 502,
    code: '50004',
    message: 'Connection to the endpoint lost (does not indicate success or failure of order).',
  },
  UPSTREAM_NO_HEALTHY_TARGET: {
    status: 503,
    code: '50005',
    message: 'API is offline or unavailable.',
  },
  RATE_LIMITED: RATE,
  IP_BANNED: RATE,
  RATE_LIMIT_UNAVAILABLE: BUSY,
  POLICY_DENIED: PERMISSION,
  AMOUNT_LIMIT_EXCEEDED: PERMISSION,
  ADDRESS_NOT_ALLOWED: PERMISSION,
  STORE_UNAVAILABLE: BUSY,
  BODY_NOT_VISIBLE: PERMISSION,
  ADDRESS_COOLING_DOWN: PERMISSION,
  ALLOWANCE_EXCEEDED: PERMISSION,
  ALLOWANCE_EXPIRED: PERMISSION,
  APPROVAL_REQUIRED: PERMISSION,
};

function fallback(status: number): DialectError<string> {
  if (status === 429) return RATE;
  if (status === 401) return KEY;
  if (status === 403) return PERMISSION;
  return status >= 500 ? BUSY : PARAMS;
}

/** Renders a denial as OKX v5 would answer it. */
export function renderOkxDenial(reason: DenialReason, ctx: DenialContext): RenderedDenial {
  const row = lookupRow(OKX_DENIALS, reason, fallback);
  return {
    status: row.status,
    headers: { 'content-type': 'application/json', ...retryAfterHeader(ctx) },
    body: JSON.stringify({ code: row.code, msg: row.message, data: [] }),
  };
}
