/**
 * One request through a data plane's authority without forwarding it: what the check listener
 * (nginx `auth_request`, Envoy `ext_authz`) and the embedded plugins share. The decision is the
 * data plane's own (same pipeline, key cache, replay guard, limits, policies, risk) and is
 * reported to the same consumers (last use, metrics, traffic log, anomaly detection).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PlaneAuthority } from '../../app/data-planes.js';
import { renderDenial, type RenderedDenial } from '../../core/dialects/render-denial.js';
import { evaluateRequest, type Decision } from '../../core/pipeline.js';
import type { ReasonCode } from '../../core/reasons.js';
import type { Dialect } from '../../core/signing/types.js';
import type { ReserveOutcome } from '../data-plane/data-plane-governance.js';

/** The request as the consumer received it: exact bytes, derived client address, time. */
export interface AuthorizeInput {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly rawQuery: string | null;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly clientIp: string;
  readonly nowMs: number;
}

/** The identity headers an allowed request carries to the engine (lower case). */
export const IDENTITY_HEADERS = {
  keyId: 'x-portcullis-key-id',
  accountId: 'x-portcullis-account-id',
  environment: 'x-portcullis-environment',
  scopes: 'x-portcullis-scopes',
  requestId: 'x-request-id',
} as const;

export type Authorization =
  | {
      readonly outcome: 'allow';
      readonly decision: Decision;
      /** Identity (empty but the request id for a public route) plus rate-limit headers. */
      readonly headers: Record<string, string>;
      /** Settles a withdrawal reservation (commit on a 2xx); a no-op for other requests. */
      settle(outcome: 'commit' | 'release' | 'keep'): Promise<void>;
    }
  | {
      readonly outcome: 'deny';
      readonly reason: ReasonCode;
      readonly dialect: Dialect;
      readonly decision: Decision;
      /** The status, headers (x-request-id included) and body the client must see. */
      readonly rendered: RenderedDenial;
    };

const NO_SETTLE = (): Promise<void> => Promise.resolve();

/** Renders a denial as the data plane does: dialect envelope, limit headers, request id. */
export function renderCheckDenial(
  authority: PlaneAuthority,
  dialect: Dialect,
  reason: ReasonCode,
  input: Pick<AuthorizeInput, 'requestId' | 'nowMs'>,
  decision?: Decision,
): RenderedDenial {
  const deny = decision?.outcome === 'deny' ? decision : undefined;
  const rendered = renderDenial(
    dialect,
    reason,
    deny?.retryAfterMs === undefined
      ? { requestId: input.requestId, nowMs: input.nowMs }
      : { requestId: input.requestId, nowMs: input.nowMs, retryAfterMs: deny.retryAfterMs },
  );
  const limitHeaders =
    deny?.limits === undefined || deny.retryAfterMs === undefined
      ? {}
      : (authority.pipeline.limits?.rules.headersFor(dialect, deny.limits, input.nowMs) ?? {});
  return {
    status: rendered.status,
    headers: { ...limitHeaders, ...rendered.headers, 'x-request-id': input.requestId },
    body: rendered.body,
  };
}

/**
 * Runs the pipeline and, for an allowed withdrawal, reserves it against the account's rules.
 * A request a `require-approval` rule matches cannot be held here (nothing is forwarded by us):
 * it is refused as POLICY_DENIED, never answered with a 2xx.
 */
export async function authorizeRequest(
  authority: PlaneAuthority,
  input: AuthorizeInput,
): Promise<Authorization> {
  const startedAt = performance.now();
  const pending = evaluateRequest(authority.pipeline, input);
  const decision = pending instanceof Promise ? await pending : pending;
  let result: Authorization;
  if (decision.outcome === 'deny') {
    const reason = decision.reason === 'APPROVAL_REQUIRED' ? 'POLICY_DENIED' : decision.reason;
    result = {
      outcome: 'deny',
      reason,
      dialect: decision.dialect,
      decision,
      rendered: renderCheckDenial(authority, decision.dialect, reason, input, decision),
    };
  } else if (decision.outcome === 'public') {
    result = {
      outcome: 'allow',
      decision,
      headers: { [IDENTITY_HEADERS.requestId]: input.requestId },
      settle: NO_SETTLE,
    };
  } else {
    let reservation: ReserveOutcome = { kind: 'none' };
    if (authority.governance !== undefined) {
      reservation = await authority.governance.reserve({
        key: decision.key,
        route: decision.route,
        policy: decision.policy,
        requestId: input.requestId,
      });
    }
    if (reservation.kind === 'refused') {
      result = {
        outcome: 'deny',
        reason: reservation.reason,
        dialect: decision.dialect,
        decision,
        rendered: renderCheckDenial(authority, decision.dialect, reservation.reason, input),
      };
    } else {
      const limits =
        decision.limits === undefined
          ? {}
          : (authority.pipeline.limits?.rules.headersFor(
              decision.dialect,
              decision.limits,
              input.nowMs,
            ) ?? {});
      const reserved = reservation.kind === 'reserved' ? reservation : undefined;
      result = {
        outcome: 'allow',
        decision,
        headers: {
          ...limits,
          [IDENTITY_HEADERS.keyId]: decision.key.id,
          [IDENTITY_HEADERS.accountId]: decision.key.accountId,
          [IDENTITY_HEADERS.environment]: decision.key.environment,
          [IDENTITY_HEADERS.scopes]: decision.key.scopes.join(','),
          [IDENTITY_HEADERS.requestId]: input.requestId,
        },
        settle: reserved === undefined ? NO_SETTLE : (outcome) => reserved.settle(outcome),
      };
    }
  }
  const pipelineMs = performance.now() - startedAt;
  authority.onDecision({
    requestId: input.requestId,
    decision,
    clientIp: input.clientIp,
    nowMs: input.nowMs,
    method: input.method,
    status: result.outcome === 'allow' ? 200 : result.rendered.status,
    pipelineMs,
    totalMs: pipelineMs,
  });
  return result;
}

/** Headers that say a request carries a body, by the rules of RFC 9112 §6.3. */
export function carriesBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}
