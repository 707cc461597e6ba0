/**
 * The one catalog of fault codes: every error the admin API, the CLI or start-up can raise,
 * with its HTTP status. docs/errors.md is kept equal to this table by a test.
 */
export const ERROR_CATALOG = {
  MALFORMED_JSON: { status: 400, description: 'The body is not valid JSON.' },
  VALIDATION_FAILED: { status: 400, description: 'The request does not match the schema.' },
  UNKNOWN_FIELD: { status: 400, description: 'The body carries a field the schema does not know.' },
  UNKNOWN_SCOPE: {
    status: 400,
    description: 'A scope is not one of read, trade, withdraw, transfer.',
  },
  INVALID_CIDR: {
    status: 400,
    description: 'An IP allowlist entry is not a valid IPv4 or IPv6 address or CIDR.',
  },
  INVALID_DURATION: {
    status: 400,
    description: 'A duration is not written like 0s, 90s, 15m, 1h or 90d.',
  },
  INVALID_PUBLIC_KEY: { status: 400, description: 'The Ed25519 public key cannot be parsed.' },
  INVALID_ROLE: {
    status: 400,
    description: 'An admin role is not owner, operator, auditor or approver.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The body is larger than the listener accepts.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The body is not application/json.' },
  ADMIN_TOKEN_MISSING: { status: 401, description: 'No bearer admin token was sent.' },
  ADMIN_TOKEN_INVALID: {
    status: 401,
    description: 'The admin token is unknown, malformed or revoked.',
  },
  ADMIN_TOKEN_EXPIRED: { status: 401, description: 'The admin token has expired.' },
  ROLE_FORBIDDEN: { status: 403, description: "The admin token's role may not do this." },
  NOT_FOUND: { status: 404, description: 'No such endpoint.' },
  METHOD_NOT_ALLOWED: { status: 405, description: 'The endpoint does not accept this method.' },
  ACCOUNT_NOT_FOUND: { status: 404, description: 'No account with this id.' },
  KEY_NOT_FOUND: { status: 404, description: 'No API key with this id.' },
  KEY_NOT_ACTIVE: {
    status: 409,
    description: 'The key is revoked or expired and cannot be changed.',
  },
  POLICY_INVALID: {
    status: 400,
    description: 'A policy does not compile; details give policy id, line, column and error.',
  },
  POLICY_NOT_FOUND: { status: 404, description: 'No policy with this id.' },
  APPROVAL_NOT_FOUND: { status: 404, description: 'No approval with this id.' },
  ALLOWANCE_NOT_FOUND: { status: 404, description: 'The key has no allowance with this id.' },
  APPROVAL_SELF: {
    status: 403,
    description: 'The initiator of a held request cannot approve or reject it.',
  },
  APPROVAL_REFUSED: {
    status: 409,
    description:
      'The vote is not accepted (not pending, expired, already voted, digest changed); details give the reason.',
  },
  GOVERNANCE_UNAVAILABLE: {
    status: 501,
    description:
      'The configured store does not implement policies, approvals and withdrawal rules.',
  },
  CONFLICT: { status: 409, description: 'The change conflicts with the current state; retry.' },
  STORE_UNAVAILABLE: { status: 503, description: 'The store cannot be reached; retry later.' },
  MASTER_KEY_MISMATCH: {
    status: 500,
    description: 'The master key cannot decrypt stored secrets (start-up fault).',
  },
  CONFIG_INVALID: { status: 500, description: 'The configuration is invalid (start-up fault).' },
  INTERNAL_ERROR: {
    status: 500,
    description: 'An unexpected fault; the request id finds it in the log.',
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** The one error family for faults. Messages never carry secrets, tokens or signatures. */
export class PortcullisError extends Error {
  override readonly name = 'PortcullisError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: readonly string[],
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_CATALOG[this.code].status;
  }
}

export function isPortcullisError(value: unknown): value is PortcullisError {
  return value instanceof PortcullisError;
}
