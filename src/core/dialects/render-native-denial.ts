import { REASON_CATALOG } from '../reasons.js';
import {
  nativeStatus,
  retryAfterHeader,
  type DenialContext,
  type DenialReason,
  type RenderedDenial,
} from './denial.js';
import { publicReason } from '../reasons.js';

const FUTURE_MESSAGES: Readonly<Record<string, string>> = {
  RATE_LIMITED: 'Too many requests for this key, account or address.',
  IP_BANNED: 'This address is temporarily banned.',
  POLICY_DENIED: 'A policy denies this request.',
  APPROVAL_REQUIRED: 'This request needs approval before it can run.',
};

/** The native envelope: `{"error":{"code","message","requestId"}}` with the catalog status. */
export function renderNativeDenial(reason: DenialReason, ctx: DenialContext): RenderedDenial {
  const visible = reason in REASON_CATALOG ? publicReason(reason) : reason;
  const message =
    visible in REASON_CATALOG
      ? REASON_CATALOG[visible].description
      : (FUTURE_MESSAGES[visible] ?? 'The request is denied.');
  return {
    status: nativeStatus(visible),
    headers: { 'content-type': 'application/json; charset=utf-8', ...retryAfterHeader(ctx) },
    body: JSON.stringify({ error: { code: visible, message, requestId: ctx.requestId } }),
  };
}
