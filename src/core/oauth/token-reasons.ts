/**
 * Why an access token or a connection ticket is refused (docs/oauth.md, docs/errors.md). Kept
 * apart from the data-plane REASON_CATALOG: these are answered by the authorization server and
 * the WebSocket gateway, never rendered by a REST dialect. The status is what an HTTP endpoint
 * answers (RFC 6750 §3.1 `invalid_token`).
 */
export const TOKEN_REASON_CATALOG = {
  TOKEN_MISSING: { status: 401, description: 'No access token or ticket was presented.' },
  TOKEN_MALFORMED: {
    status: 401,
    description: 'The token is not a compact JWS with a JSON header and claims.',
  },
  TOKEN_ALGORITHM_REFUSED: {
    status: 401,
    description: 'The token header names an algorithm other than EdDSA (none, HS256, RS256 …).',
  },
  TOKEN_TYPE_REFUSED: {
    status: 401,
    description: 'The token header `typ` is not `at+jwt` (RFC 8725 §3.11 explicit typing).',
  },
  TOKEN_KID_UNKNOWN: {
    status: 401,
    description: 'The token header has no `kid`, or names no published signing key.',
  },
  TOKEN_SIGNATURE_INVALID: { status: 401, description: 'The token signature does not verify.' },
  TOKEN_ISSUER_MISMATCH: { status: 401, description: 'The `iss` claim is not this issuer.' },
  TOKEN_AUDIENCE_MISMATCH: {
    status: 401,
    description: "The `aud` claim is not this environment's audience.",
  },
  TOKEN_EXPIRED: { status: 401, description: 'The token has expired (`exp`).' },
  TOKEN_NOT_YET_VALID: { status: 401, description: 'The token is not valid yet (`nbf`, `iat`).' },
  TOKEN_CLAIMS_INVALID: {
    status: 401,
    description: 'A required claim (sub, acct, env, scope, jti, iat, exp) is missing or malformed.',
  },
  TOKEN_REVOKED: { status: 401, description: 'The token was revoked (RFC 7009).' },
  TICKET_INVALID: {
    status: 401,
    description: 'The connection ticket is unknown, already used, expired or bound elsewhere.',
  },
  TICKET_UNAVAILABLE: {
    status: 503,
    description: 'The shared ticket store (Redis) cannot be reached; try again.',
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type TokenReasonCode = keyof typeof TOKEN_REASON_CATALOG;
