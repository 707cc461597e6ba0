/** Codes the client raises itself, when there is no answer from the gateway to report. */
export const CLIENT_ERROR_CODES = ['CONNECTION_FAILED', 'TIMEOUT', 'TIME_SYNC_FAILED'] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

export interface PortcullisApiErrorInit {
  readonly code: string;
  /** HTTP status of the answer; 0 when no answer was received. */
  readonly status: number;
  readonly requestId?: string | undefined;
  readonly method: string;
  /** Request path without the query (the query may carry parameters the caller considers private). */
  readonly path: string;
  /** The gateway's (or upstream's) human message, if any. */
  readonly serverMessage?: string | undefined;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly cause?: unknown;
}

/** Longest server message copied into an error message. */
const MAX_SERVER_MESSAGE_CHARS = 300;
const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * Any failure of a client call: a denial by the gateway (`code` is its reason code, e.g.
 * `SIGNATURE_INVALID`), an upstream error (its code, e.g. `INSUFFICIENT_BALANCE`), or a transport
 * failure (`CONNECTION_FAILED`, `TIMEOUT`, status 0). Built only from the answer and the method
 * and path: the secret, the signature and the request headers are never part of it.
 */
export class PortcullisApiError extends Error {
  override readonly name = 'PortcullisApiError';
  readonly code: string;
  readonly status: number;
  readonly requestId: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;

  constructor(init: PortcullisApiErrorInit) {
    const where = `${init.method} ${init.path}`;
    const status = init.status === 0 ? 'no answer' : `HTTP ${init.status}`;
    const detail = init.serverMessage
      ? `: ${init.serverMessage.slice(0, MAX_SERVER_MESSAGE_CHARS)}`
      : '';
    const request = init.requestId ? ` (request ${init.requestId})` : '';
    super(
      `${init.code} (${status}) on ${where}${detail}${request}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.code = init.code;
    this.status = init.status;
    this.requestId = init.requestId;
    this.headers = init.headers ?? {};
    this.body = init.body;
  }
}

/** Whether `value` is a PortcullisApiError (also across duplicated module copies). */
export function isPortcullisApiError(value: unknown): value is PortcullisApiError {
  return value instanceof PortcullisApiError;
}

/**
 * The error for an answer with status ≥ 400: the code, message and request id of the native
 * envelope `{"error":{"code","message","requestId"}}` when present, else `HTTP_<status>` and the
 * `X-Request-Id` header.
 */
export function errorFromResponse(
  method: string,
  path: string,
  response: {
    readonly status: number;
    readonly headers: Readonly<Record<string, string>>;
    readonly body: unknown;
  },
): PortcullisApiError {
  const envelope = readEnvelope(response.body);
  return new PortcullisApiError({
    code: envelope?.code ?? `HTTP_${response.status}`,
    status: response.status,
    requestId: envelope?.requestId ?? response.headers['x-request-id'],
    method,
    path,
    serverMessage: envelope?.message,
    headers: response.headers,
    body: response.body,
  });
}

/** The reason code of an error answer, or undefined when it is not a native envelope. */
export function errorCodeOf(body: unknown): string | undefined {
  return readEnvelope(body)?.code;
}

function readEnvelope(
  body: unknown,
): { code: string; message?: string; requestId?: string } | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error = body.error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message, requestId } = error as Record<string, unknown>;
  if (typeof code !== 'string' || !CODE_PATTERN.test(code)) return undefined;
  return {
    code,
    ...(typeof message === 'string' ? { message } : {}),
    ...(typeof requestId === 'string' ? { requestId } : {}),
  };
}
