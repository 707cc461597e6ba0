/**
 * Data-plane reason codes: why a request was denied. Denials are values, not exceptions; each
 * dialect renders them in its own wire format. The status is what the native dialect answers.
 */
export const REASON_CATALOG = {
  CREDENTIALS_MISSING: { status: 401, description: 'No credential of any enabled scheme.' },
  SIGNATURE_MALFORMED: {
    status: 400,
    description: 'Signature headers or parameters are malformed or incomplete.',
  },
  SIGNATURE_INVALID: {
    status: 401,
    description: 'The signature does not verify (also answered for unknown keys).',
  },
  KEY_UNKNOWN: {
    status: 401,
    description: 'No such key; answered to the client exactly as SIGNATURE_INVALID.',
  },
  TIMESTAMP_OUTSIDE_WINDOW: {
    status: 401,
    description: 'The signed time is outside the accepted window.',
  },
  NONCE_REPLAYED: {
    status: 401,
    description: 'The nonce (or signature) was already used inside the window.',
  },
  REPLAY_CHECK_UNAVAILABLE: {
    status: 503,
    description: 'The replay guard cannot be reached; the request is refused (fail closed).',
  },
  DIGEST_MISMATCH: {
    status: 401,
    description: 'Content-Digest does not match the body bytes, or is missing.',
  },
  KEY_REVOKED: { status: 401, description: 'The key is revoked.' },
  KEY_EXPIRED: { status: 401, description: 'The key has expired.' },
  ENV_MISMATCH: { status: 401, description: 'The key belongs to the other environment.' },
  PASSPHRASE_INVALID: {
    status: 401,
    description: 'The OKX-style passphrase does not match the key.',
  },
  IP_NOT_ALLOWED: {
    status: 403,
    description: "The client address is not on the key's IP allowlist.",
  },
  SCOPE_MISSING: { status: 403, description: 'The key lacks the scope the route requires.' },
  KEY_DISABLED: {
    status: 403,
    description:
      'The key is disabled by an anomaly response or key governance until an operator resets it.',
  },
  KEY_STEPPED_DOWN: {
    status: 403,
    description:
      'The key is stepped down (withdraw suspended; trade cancel-only or read-only) by an anomaly response.',
  },
  ROUTE_UNKNOWN: { status: 404, description: 'No route matches the method and path.' },
  BAD_REQUEST: {
    status: 400,
    description: 'The request is malformed (duplicate parameters, bad JSON, …).',
  },
  BODY_TOO_LARGE: { status: 413, description: 'The body is larger than the listener accepts.' },
  UPSTREAM_TIMEOUT: { status: 504, description: 'The upstream did not answer in time.' },
  UPSTREAM_UNAVAILABLE: { status: 502, description: 'The upstream cannot be reached.' },
  UPSTREAM_NOT_RETRIED: {
    status: 502,
    description:
      'The upstream connection failed after the request may have reached it; without an idempotency key or client order id it is not sent to another target (check its outcome before resending).',
  },
  UPSTREAM_NO_HEALTHY_TARGET: {
    status: 503,
    description:
      'Every target of the upstream pool is ejected or failing its health checks; nothing was sent.',
  },
  RATE_LIMITED: {
    status: 429,
    description: 'A rate limit (key, account, IP prefix, orders or failed logins) is exhausted.',
  },
  IP_BANNED: {
    status: 418,
    description: 'The IP prefix kept sending after 429 answers and is banned for a while.',
  },
  RATE_LIMIT_UNAVAILABLE: {
    status: 503,
    description: 'The shared rate-limit store cannot be reached and the gateway fails closed.',
  },
  POLICY_DENIED: {
    status: 403,
    description:
      'A policy denies the request (forbid, default deny, evaluation error, or no loaded policy set).',
  },
  APPROVAL_REQUIRED: {
    status: 202,
    description:
      'The request is held for multi-party approval; the answer carries the approval id to poll.',
  },
  AMOUNT_LIMIT_EXCEEDED: {
    status: 403,
    description: 'A per-transaction or rolling 1 h / 24 h withdrawal limit would be exceeded.',
  },
  ADDRESS_NOT_ALLOWED: {
    status: 403,
    description: "The withdrawal address is not on the account's address book.",
  },
  ADDRESS_COOLING_DOWN: {
    status: 403,
    description: 'The withdrawal address was added recently and is still in its cool-down.',
  },
  ALLOWANCE_EXCEEDED: {
    status: 403,
    description:
      "The order's notional or the withdrawal amount does not fit what the key's spend allowance has left this period (or no allowance of the key covers the asset).",
  },
  ALLOWANCE_EXPIRED: {
    status: 403,
    description:
      "The key's spend allowance for this kind of request has expired; the key has no right of that kind until an operator gives it a new one.",
  },
  STORE_UNAVAILABLE: {
    status: 503,
    description:
      'A store the decision needs (withdrawal rules, approvals, a key not in the cache) cannot be reached; nothing was forwarded — retry later.',
  },
  BODY_NOT_VISIBLE: {
    status: 403,
    description:
      'The request carries a body the authorization check cannot see (nginx auth_request, a partial Envoy body); send it through the Portcullis proxy.',
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type ReasonCode = keyof typeof REASON_CATALOG;

/** What the client is told: an unknown key must be indistinguishable from a bad signature. */
export function publicReason(reason: ReasonCode): ReasonCode {
  return reason === 'KEY_UNKNOWN' ? 'SIGNATURE_INVALID' : reason;
}
