/**
 * Answer headers for a LimitResult: the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-
 * headers-10), Retry-After on refusals (RFC 9110 §10.2.3), and the exchange dialects' own
 * headers so that existing clients (CCXT, official SDKs) slow down as they would at the venue.
 */
import type { CheckResult, LimitResult } from './types.js';

const QUOTED = new Map<string, string>();

/** sf-string content (RFC 8941 §3.3.3): escape the two characters that need it. */
function sfString(text: string): string {
  // Rule names are few and come from the configuration: each is escaped once (two per rule and
  // answer otherwise). Bounded anyway.
  let quoted = QUOTED.get(text);
  if (quoted === undefined) {
    quoted = `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    if (QUOTED.size >= 1024) QUOTED.clear();
    QUOTED.set(text, quoted);
  }
  return quoted;
}

/** Whole seconds, rounded up: a client waiting this long is never early. */
function ceilSeconds(ms: number): number {
  return Math.ceil(Math.max(0, ms) / 1000);
}

/**
 * `RateLimit-Policy` (§3: one item per rule, `q` quota, `w` window in whole seconds, rounded
 * up) and `RateLimit` (§4: `r` remaining, `t` seconds until the quota is fully restored), plus
 * `Retry-After` in whole seconds (at least 1) when the set was refused.
 */
export function rateLimitHeaders(result: LimitResult): Record<string, string> {
  const headers: Record<string, string> = {};
  if (result.results.length > 0) {
    headers['RateLimit-Policy'] = result.results
      .map((r) => `${sfString(r.name)};q=${r.limit};w=${Math.max(1, ceilSeconds(r.windowMs))}`)
      .join(', ');
    headers.RateLimit = result.results
      .map((r) => `${sfString(r.name)};r=${Math.max(0, r.remaining)};t=${ceilSeconds(r.resetMs)}`)
      .join(', ');
  }
  if (!result.allowed)
    headers['Retry-After'] = String(Math.max(1, ceilSeconds(result.retryAfterMs)));
  return headers;
}

const INTERVAL_UNITS = [
  ['D', 86_400_000],
  ['H', 3_600_000],
  ['M', 60_000],
  ['S', 1_000],
] as const;

/** Binance's interval label (`1M`, `10S`, `1D`) for a window, or undefined if none fits. */
export function binanceInterval(windowMs: number): string | undefined {
  for (const [letter, unitMs] of INTERVAL_UNITS) {
    if (windowMs % unitMs === 0) return `${windowMs / unitMs}${letter}`;
  }
  return undefined;
}

function used(result: CheckResult): number {
  return Math.max(0, result.limit - result.remaining);
}

/** Which rules a dialect reports: request-weight rules and order-count rules, by name. */
export interface BinanceHeaderRules {
  readonly usedWeight: readonly string[];
  readonly orderCount: readonly string[];
}

/**
 * Binance-style `X-MBX-USED-WEIGHT-<interval>` and `X-MBX-ORDER-COUNT-<interval>` for the named
 * rules present in the result (used = limit − remaining), plus Retry-After on refusals.
 */
export function binanceHeaders(
  result: LimitResult,
  rules: BinanceHeaderRules,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const r of result.results) {
    const interval = binanceInterval(r.windowMs);
    if (interval === undefined) continue;
    if (rules.usedWeight.includes(r.name)) headers[`X-MBX-USED-WEIGHT-${interval}`] = `${used(r)}`;
    if (rules.orderCount.includes(r.name)) headers[`X-MBX-ORDER-COUNT-${interval}`] = `${used(r)}`;
  }
  if (!result.allowed)
    headers['Retry-After'] = String(Math.max(1, ceilSeconds(result.retryAfterMs)));
  return headers;
}

/**
 * Bybit v5 `X-Bapi-Limit-Status` (remaining), `X-Bapi-Limit` (limit) and
 * `X-Bapi-Limit-Reset-Timestamp` (epoch ms when the quota is fully restored) for one rule.
 */
export function bybitHeaders(
  result: LimitResult,
  ruleName: string,
  nowMs: number,
): Record<string, string> {
  const r = result.results.find((candidate) => candidate.name === ruleName);
  if (r === undefined) return {};
  return {
    'X-Bapi-Limit-Status': `${Math.max(0, r.remaining)}`,
    'X-Bapi-Limit': `${r.limit}`,
    'X-Bapi-Limit-Reset-Timestamp': `${nowMs + r.resetMs}`,
  };
}
