import { PortcullisApiError } from './portcullis-api-error.js';
import { provesNotSent } from './retry-policy.js';
import type { FetchLike } from './types.js';

/** A completed exchange with the server. */
export interface Answer {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Record<string, string>;
  /** Parsed JSON, or the text. */
  readonly body: unknown;
  /** Local times bracketing the exchange (the time sync takes their midpoint). */
  readonly sentAtMs: number;
  readonly receivedAtMs: number;
}

export type Attempt =
  | { readonly kind: 'response'; readonly answer: Answer }
  | {
      readonly kind: 'failure';
      readonly error: unknown;
      readonly notSent: boolean;
      readonly timedOut: boolean;
    };

/**
 * One HTTP exchange, answer read in full, under one timeout. Redirects are not followed: a
 * signed request re-sent elsewhere would carry its one-time signature to another target.
 * Never throws; a transport failure is an outcome.
 */
export async function sendAttempt(
  deps: {
    readonly fetch: FetchLike;
    readonly clock: { now(): number };
    readonly timeoutMs: number;
  },
  request: {
    readonly method: string;
    readonly url: URL;
    readonly body: Buffer | undefined;
    readonly headers: Record<string, string>;
  },
): Promise<Attempt> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), deps.timeoutMs);
  timer.unref?.();
  const sentAtMs = deps.clock.now();
  try {
    const response = await deps.fetch(request.url.href, {
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      redirect: 'manual',
      signal: controller.signal,
    });
    const text = await response.text();
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => (headers[name.toLowerCase()] = value));
    return {
      kind: 'response',
      answer: {
        status: response.status,
        headers,
        body: parseBody(text),
        sentAtMs,
        receivedAtMs: deps.clock.now(),
      },
    };
  } catch (error) {
    return {
      kind: 'failure',
      error,
      notSent: provesNotSent(error),
      timedOut: controller.signal.aborted,
    };
  } finally {
    clearTimeout(timer);
  }
}

function parseBody(text: string): unknown {
  if (text === '') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The error for a transport failure: no answer, so status 0 and no request id. */
export function transportError(
  method: string,
  path: string,
  failure: Extract<Attempt, { kind: 'failure' }>,
): PortcullisApiError {
  return new PortcullisApiError({
    code: failure.timedOut ? 'TIMEOUT' : 'CONNECTION_FAILED',
    status: 0,
    method,
    path,
    serverMessage: failure.timedOut
      ? 'No answer within the timeout.'
      : 'The gateway cannot be reached.',
    cause: failure.error,
  });
}
