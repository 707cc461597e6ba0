/**
 * Shared types for rendering a denial in a dialect's own wire format, so that existing clients
 * (ccxt among them) raise the exception they raise against the real exchange.
 */
import { REASON_CATALOG, publicReason, type ReasonCode } from '../reasons.js';

/** Reason codes the pipeline is expected to add; each renderer already maps them. */
export const FUTURE_REASONS = ['POLICY_DENIED', 'APPROVAL_REQUIRED'] as const;
export type FutureReason = (typeof FUTURE_REASONS)[number];
export type DenialReason = ReasonCode | FutureReason;

export interface DenialContext {
  readonly requestId: string;
  readonly nowMs: number;
  /** For rate limits and bans: sent as `Retry-After` (whole seconds, rounded up). */
  readonly retryAfterMs?: number;
}

export interface RenderedDenial {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** One row of a dialect's mapping table. */
export interface DialectError<C extends string | number> {
  readonly status: number;
  readonly code: C;
  readonly message: string;
}

/**
 * The row for a reason: the public reason first (an unknown key answers exactly like a bad
 * signature), then the table, then the fallback for reasons added after this table.
 */
export function lookupRow<R>(
  table: Readonly<Record<string, R>>,
  reason: string,
  fallback: (status: number) => R,
): R {
  const visible = reason in REASON_CATALOG ? publicReason(reason as ReasonCode) : reason;
  return table[visible] ?? fallback(nativeStatus(visible));
}

const FUTURE_STATUS: Readonly<Record<FutureReason, number>> = {
  POLICY_DENIED: 403,
  APPROVAL_REQUIRED: 403,
};

/** The native HTTP status of a reason; 403 for a reason no table knows (it is still a denial). */
export function nativeStatus(reason: string): number {
  if (reason in REASON_CATALOG) return REASON_CATALOG[reason as ReasonCode].status;
  return FUTURE_STATUS[reason as FutureReason] ?? 403;
}

/** `Retry-After` when the context carries a delay. */
export function retryAfterHeader(ctx: DenialContext): Record<string, string> {
  return ctx.retryAfterMs === undefined
    ? {}
    : { 'retry-after': String(Math.max(0, Math.ceil(ctx.retryAfterMs / 1000))) };
}
