/**
 * What the data plane asks of the governance services (docs/policies.md): hold a request a
 * `require-approval` rule matched, reserve a withdrawal against the account's rules before it is
 * forwarded and settle the reservation afterwards, and answer a requester's poll of its approval.
 * The composition root implements it over the approval and withdrawal services.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { JsonValue } from '../../core/audit/canonical-json.js';
import type { HeldRequest } from '../../core/pipeline.js';
import type { ReasonCode } from '../../core/reasons.js';
import type { RouteMatch } from '../../core/routes/route-table.js';
import type { ApiKey } from '../../core/keys/model.js';
import type { PolicyStepResult } from '../../core/policy/policy-step.js';

/** The request as received, for storing with the approval. */
export interface HoldContext {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly clientIp: string;
}

export type ReserveOutcome =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'reserved';
      /** Commit on a 2xx, release on any other answer, keep (until its ttl) after a timeout. */
      settle(outcome: 'commit' | 'release' | 'keep'): Promise<void>;
    }
  | {
      readonly kind: 'refused';
      readonly reason: Extract<
        ReasonCode,
        | 'AMOUNT_LIMIT_EXCEEDED'
        | 'ADDRESS_NOT_ALLOWED'
        | 'ADDRESS_COOLING_DOWN'
        | 'ALLOWANCE_EXCEEDED'
        | 'ALLOWANCE_EXPIRED'
        | 'BAD_REQUEST'
      >;
    };

export interface DataPlaneGovernance {
  /** Opens an approval round for the held request; the id and expiry go into the 202. */
  hold(held: HeldRequest, ctx: HoldContext): Promise<{ id: string; expiresAtMs: number }>;
  /** Reserves a withdrawal when the route is one and the account has rules. */
  reserve(input: {
    readonly key: ApiKey;
    readonly route: RouteMatch;
    /** Extracted parameters (asset, address, amount as its exact decimal text). */
    readonly policy: Extract<PolicyStepResult, { outcome: 'allow' }> | undefined;
    readonly requestId: string;
  }): Promise<ReserveOutcome>;
  /** The approval as its requester sees it; undefined unless it belongs to `accountId`. */
  poll(approvalId: string, accountId: string): Promise<JsonValue | undefined>;
  /** The route action the gateway answers itself (the requester's poll). */
  readonly pollAction: string;
}
