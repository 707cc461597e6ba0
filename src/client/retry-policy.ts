/**
 * When to retry, where, and after how long: pure decisions over one attempt's outcome, so that
 * the request loop stays small and the rules are tested without sockets or timers.
 */

/** What one attempt produced. */
export type AttemptOutcome =
  | {
      readonly kind: 'response';
      readonly status: number;
      /** Reason code of the error envelope, when there is one. */
      readonly code: string | undefined;
      /** Parsed `Retry-After`, in milliseconds from now. */
      readonly retryAfterMs: number | undefined;
    }
  | {
      readonly kind: 'failure';
      /** True only when the failure proves the request never left (e.g. ECONNREFUSED). */
      readonly notSent: boolean;
      readonly timedOut: boolean;
    };

export interface RetryState {
  /** Whether repeating the request cannot execute it twice. */
  readonly idempotent: boolean;
  readonly retriesLeft: number;
  /** Retries already made for this request (drives the back-off). */
  readonly retriesMade: number;
  readonly urlCount: number;
  /** Whether the next URL in order has not been tried yet for this request. */
  readonly nextUrlUntried: boolean;
  /** Whether the clock was already re-synchronised for this request. */
  readonly resynced: boolean;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export type RetryPlan =
  | { readonly action: 'done' }
  | { readonly action: 'resync' }
  | { readonly action: 'retry'; readonly moveToNextUrl: boolean; readonly delayMs: number };

const DONE: RetryPlan = { action: 'done' };

/**
 * The next step after an attempt. `done` means: return the answer, or throw the failure.
 * - TIMESTAMP_OUTSIDE_WINDOW: the gateway refused before forwarding, so re-sync the clock and
 *   try once more, whatever the method.
 * - 429 on an idempotent request: same URL (limits are per key, shared by every node), after
 *   `Retry-After` or a back-off.
 * - 502/503/504 and transport failures on an idempotent request: the next URL; a transport
 *   failure that proves the request was not sent also moves a non-idempotent request.
 * - A wait longer than `maxDelayMs` is not shortened (that would ignore `Retry-After`): the
 *   request fails instead.
 */
export function planRetry(outcome: AttemptOutcome, state: RetryState): RetryPlan {
  if (outcome.kind === 'response') {
    if (outcome.status < 400) return DONE;
    if (outcome.code === 'TIMESTAMP_OUTSIDE_WINDOW' && outcome.status === 401) {
      return state.resynced ? DONE : { action: 'resync' };
    }
    const failover = outcome.status === 502 || outcome.status === 503 || outcome.status === 504;
    if ((outcome.status !== 429 && !failover) || !state.idempotent || state.retriesLeft <= 0) {
      return DONE;
    }
    const move = failover && state.urlCount > 1;
    const delayMs = outcome.retryAfterMs ?? (move && state.nextUrlUntried ? 0 : backoffMs(state));
    return delayMs > state.maxDelayMs ? DONE : { action: 'retry', moveToNextUrl: move, delayMs };
  }
  if (!(state.idempotent || outcome.notSent) || state.retriesLeft <= 0) return DONE;
  const move = state.urlCount > 1;
  return {
    action: 'retry',
    moveToNextUrl: move,
    delayMs: move && state.nextUrlUntried ? 0 : backoffMs(state),
  };
}

/** Exponential back-off without jitter (deterministic): base × 2^retries, capped. */
export function backoffMs(state: Pick<RetryState, 'retriesMade' | 'baseDelayMs' | 'maxDelayMs'>) {
  return Math.min(state.maxDelayMs, state.baseDelayMs * 2 ** Math.min(state.retriesMade, 20));
}

/**
 * Whether a request may be sent twice without being executed twice: GET, HEAD, OPTIONS and
 * DELETE by their semantics (RFC 9110 §9.2.2), a POST only when it names itself with a
 * `clientOrderId` in its JSON body or an `Idempotency-Key` header.
 */
export function isIdempotentRequest(
  method: string,
  body: unknown,
  headers: Readonly<Record<string, string>>,
): boolean {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'DELETE') {
    return true;
  }
  if (method !== 'POST') return false;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === 'idempotency-key' && headers[name] !== '') return true;
  }
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { clientOrderId?: unknown }).clientOrderId === 'string' &&
    (body as { clientOrderId: string }).clientOrderId !== ''
  );
}

const DELAY_SECONDS = /^\d{1,10}$/;
/** All three HTTP-date forms (RFC 9110 §5.6.7) start with a day name; Date.parse alone takes "1.5". */
const HTTP_DATE_START = /^[A-Za-z]{3,9},? /;

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. A date is the server's
 * clock, so it is compared with the server-corrected time `serverNowMs`. Undefined when absent
 * or unreadable; never negative.
 */
export function parseRetryAfterMs(
  value: string | undefined,
  serverNowMs: number,
): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (DELAY_SECONDS.test(text)) return Number(text) * 1000;
  const dateMs = HTTP_DATE_START.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(dateMs)) return undefined;
  return Math.max(0, dateMs - serverNowMs);
}

/**
 * Error codes of a connection that was never established: the request bytes cannot have
 * reached the server, so even a non-idempotent request may go to another URL. A reset or a
 * timeout after connecting proves nothing and is not on this list.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Whether a fetch rejection proves the request was not sent (walks `error.cause`). */
export function provesNotSent(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true;
    // AggregateError (happy eyeballs: every address refused).
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every((e) => provesNotSent(e))) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
