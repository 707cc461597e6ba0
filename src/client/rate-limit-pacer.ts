import { parseList, type List } from 'structured-headers';
import { parseRetryAfterMs } from './retry-policy.js';

/**
 * The client's hook for slowing down on its own when the gateway says a limit is reached. The
 * request loop asks it before every attempt and tells it every answer; a richer pacer (e.g.
 * one that spreads requests over the remaining quota) can replace the default one.
 */
export interface RateLimitPacer {
  /** Milliseconds to wait before the next attempt may be sent; 0 to send now. */
  delayBeforeNextMs(nowMs: number): number;
  /** Reads an answer's rate-limit fields. */
  observe(answer: ObservedAnswer): void;
}

export interface ObservedAnswer {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Local time when the answer arrived (the pacer's time base). */
  readonly nowMs: number;
  /** The same instant on the server's clock, for HTTP dates such as `Retry-After`. */
  readonly serverNowMs: number;
}

/**
 * The default pacer: after an answer whose `RateLimit` field (draft-ietf-httpapi-ratelimit-
 * headers, `"name";r=…;t=…`) reports a quota with nothing remaining, or after a 429/503 with
 * `Retry-After`, it holds every further request until the quota resets. A 418 (`IP_BANNED`: the
 * client's IP prefix kept going after 429s and is banned) with `Retry-After` holds them until the
 * ban ends — every request before that would be refused and, on Binance, lengthen the ban.
 */
export function createRateLimitPacer(): RateLimitPacer {
  let notBeforeMs = 0;
  return {
    delayBeforeNextMs: (nowMs) => Math.max(0, notBeforeMs - nowMs),
    observe({ status, headers, nowMs, serverNowMs }) {
      const exhaustedMs = exhaustedForMs(headers.ratelimit);
      if (exhaustedMs !== undefined) notBeforeMs = Math.max(notBeforeMs, nowMs + exhaustedMs);
      if (status === 429 || status === 503 || status === 418) {
        const retryAfterMs = parseRetryAfterMs(headers['retry-after'], serverNowMs);
        if (retryAfterMs !== undefined) notBeforeMs = Math.max(notBeforeMs, nowMs + retryAfterMs);
      }
    },
  };
}

/**
 * The longest wait, in ms, among the `RateLimit` items with `r=0`; undefined when no quota is
 * exhausted or the field is absent or unreadable (a bad field never blocks the client).
 */
export function exhaustedForMs(field: string | undefined): number | undefined {
  if (field === undefined) return undefined;
  let list: List;
  try {
    list = parseList(field);
  } catch {
    return undefined;
  }
  let waitMs: number | undefined;
  for (const [, params] of list) {
    const remaining: unknown = params.get('r');
    const resetSeconds: unknown = params.get('t');
    if (remaining !== 0 || typeof resetSeconds !== 'number' || resetSeconds < 0) continue;
    waitMs = Math.max(waitMs ?? 0, resetSeconds * 1000);
  }
  return waitMs;
}
