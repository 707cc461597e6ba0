/**
 * The 202 answer to a request held for multi-party approval, in each dialect's envelope so that
 * its clients can show it: native `{"approval":{"id","state":"pending","expiresAt"}}`; Binance,
 * Bybit and OKX their usual error envelope (the APPROVAL_REQUIRED row's code) with the approval id
 * in the message, since their clients print the message and nothing else.
 */
import type { Dialect } from '../signing/types.js';
import type { RenderedDenial } from './denial.js';
import { renderDenial } from './render-denial.js';

const HELD_STATUS = 202;

/** Renders the hold answer; `pollPath` is where the requester polls (signed GET). */
export function renderApprovalHold(
  dialect: Dialect,
  hold: { readonly approvalId: string; readonly expiresAtMs: number; readonly pollPath: string },
  ctx: { readonly requestId: string; readonly nowMs: number },
): RenderedDenial {
  const expiresAt = new Date(hold.expiresAtMs).toISOString();
  if (dialect === 'native') {
    return {
      status: HELD_STATUS,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({
        approval: { id: hold.approvalId, state: 'pending', expiresAt },
        requestId: ctx.requestId,
      }),
    };
  }
  const base = renderDenial(dialect, 'APPROVAL_REQUIRED', ctx);
  const message = `Held for approval ${hold.approvalId} until ${expiresAt}; poll GET ${hold.pollPath}.`;
  const envelope = JSON.parse(base.body) as Record<string, unknown>;
  // Each envelope keeps its code; only the message field is replaced (msg / retMsg).
  if (dialect === 'bybit') envelope.retMsg = message;
  else envelope.msg = message;
  if (dialect === 'okx') envelope.data = [{ approvalId: hold.approvalId, expiresAt }];
  if (dialect === 'bybit') envelope.result = { approvalId: hold.approvalId, expiresAt };
  return { status: HELD_STATUS, headers: base.headers, body: JSON.stringify(envelope) };
}
