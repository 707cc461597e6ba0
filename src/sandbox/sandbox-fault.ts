/**
 * The sandbox's own error catalog (native dialect codes and HTTP statuses). Dialect routes render
 * the same faults in Binance, Bybit or OKX codes; see render-fault.ts and docs/sandbox.md.
 */
import { MAX_OPEN_ORDERS_PER_MARKET } from './ledger.js';

export const SANDBOX_ERROR_CATALOG = {
  IDENTITY_MISSING: {
    status: 401,
    description: 'X-Portcullis-Account is missing or malformed (the gateway did not forward).',
  },
  UPSTREAM_TOKEN_INVALID: {
    status: 401,
    description: 'X-Portcullis-Upstream-Token is missing or wrong.',
  },
  MALFORMED_JSON: { status: 400, description: 'The body is not valid JSON (or is empty).' },
  MALFORMED_PARAMS: {
    status: 400,
    description: 'The query string or form body is not valid percent-encoding.',
  },
  VALIDATION_FAILED: { status: 400, description: 'A field is missing, malformed or not allowed.' },
  UNKNOWN_FIELD: {
    status: 400,
    description: 'The request carries a field the route does not know.',
  },
  DUPLICATE_PARAMETER: { status: 400, description: 'A parameter appears more than once.' },
  UNKNOWN_SYMBOL: { status: 400, description: 'No market with this symbol.' },
  INSUFFICIENT_BALANCE: {
    status: 400,
    description: 'The free balance does not cover the request.',
  },
  QUANTITY_TOO_SMALL: { status: 400, description: 'The quantity rounds to zero.' },
  TOO_MANY_OPEN_ORDERS: {
    status: 400,
    description: `The order would rest, and the account already has ${MAX_OPEN_ORDERS_PER_MARKET} open in this market.`,
  },
  ORDER_NOT_FOUND: { status: 404, description: 'No such order for this account.' },
  ORDER_NOT_OPEN: { status: 409, description: 'The order is already filled, canceled or expired.' },
  NOT_FOUND: { status: 404, description: 'No such endpoint.' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The body is larger than the sandbox accepts.' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    description: 'The body has a content type the route does not accept.',
  },
  INTERNAL_ERROR: { status: 500, description: 'An unexpected fault.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type SandboxErrorCode = keyof typeof SANDBOX_ERROR_CATALOG;

/** What is wrong with a named field: lets dialects pick their own finer codes. */
export type FieldProblem = 'missing' | 'invalid' | 'precision' | 'not-allowed';

export interface FaultDetail {
  readonly field?: string;
  readonly problem?: FieldProblem;
  /** Ids of the order concerned, for dialects that echo them in errors (OKX `data[]`). */
  readonly orderId?: string;
  readonly clientOrderId?: string;
}

/** A request the sandbox refuses. Thrown by handlers, rendered by the error handler. */
export class SandboxFault extends Error {
  override readonly name = 'SandboxFault';
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    readonly detail: FaultDetail = {},
  ) {
    super(message);
  }

  get status(): number {
    return SANDBOX_ERROR_CATALOG[this.code].status;
  }
}

/** A field-level validation fault; the message names the field, never echoes its value. */
export function fieldFault(field: string, problem: FieldProblem, expected?: string): SandboxFault {
  const text: Record<FieldProblem, string> = {
    missing: `${field} is required`,
    invalid: `${field} is malformed${expected === undefined ? '' : `; expected ${expected}`}`,
    precision: `${field} has more than 8 decimal places`,
    'not-allowed': `${field} is not allowed here`,
  };
  return new SandboxFault('VALIDATION_FAILED', text[problem], { field, problem });
}
