/**
 * Policy changes — create, update, delete — are held for multi-party approval when the switch
 * is on (quorum > 0): a policy can open or close any route, so changing one is among the most
 * sensitive acts (issue 6, reference §2.5). On quorum the change is applied exactly once, as the
 * person who asked for it; it is compiled with the whole set then, like any change (a set that
 * no longer compiles fails the approval with POLICY_INVALID and changes nothing).
 */
import { createHash } from 'node:crypto';
import { canonicalJson, type JsonValue } from '../core/audit/canonical-json.js';
import { PortcullisError } from '../core/errors.js';
import type { ApprovalService } from './approval-service.js';
import type { ActorContext } from './key-service.js';
import type { PolicyInput, PolicyService } from './policy-service.js';

type JsonObject = { readonly [name: string]: JsonValue };

/** The approval kind of a held policy change. */
export const POLICY_CHANGE_KIND = 'policy.change';

export type PolicyChange =
  | { readonly op: 'create' | 'update'; readonly id: string; readonly input: PolicyInput }
  | { readonly op: 'delete'; readonly id: string };

export interface PolicyChangeGate {
  /** Holds the change and returns the approval, or undefined when it may be applied now. */
  maybeHold(
    change: PolicyChange,
    ctx: ActorContext & { person: string },
  ): Promise<{ approvalId: string; quorum: number } | undefined>;
}

interface Subject {
  readonly op: PolicyChange['op'];
  readonly id: string;
  readonly input: PolicyInput | null;
  readonly requestedBy: string;
}

export function createPolicyChangeGate(deps: {
  policies: PolicyService;
  approvals: ApprovalService;
  quorum: number;
}): PolicyChangeGate {
  const { policies, approvals, quorum } = deps;
  const digest = (subject: JsonObject): string =>
    createHash('sha256').update(canonicalJson(subject)).digest('hex');
  approvals.register(POLICY_CHANGE_KIND, {
    digest,
    async execute(record, ctx) {
      const s = record.subject as unknown as Subject;
      // Applied as the person who asked; the approvals are in the audit chain before it.
      const as = { actor: s.requestedBy, requestId: ctx.requestId };
      const applied =
        s.op === 'delete'
          ? await policies.remove(s.id, as)
          : s.op === 'create'
            ? await policies.create(s.id, s.input ?? missingInput(), as)
            : await policies.update(s.id, s.input ?? missingInput(), as);
      return {
        ok: true,
        result: { policyId: applied.id, version: applied.version, active: applied.active },
        detail: `policy ${s.op}`,
      };
    },
  });
  return {
    async maybeHold(change, ctx) {
      if (quorum <= 0) return undefined;
      // Refuse at once what could never be applied (a missing or an existing policy).
      const exists = policies.list().some((p) => p.id === change.id);
      if (change.op === 'create' && exists)
        throw new PortcullisError('CONFLICT', `Policy ${change.id} already exists.`);
      if (change.op !== 'create' && !exists)
        throw new PortcullisError('POLICY_NOT_FOUND', `No policy ${change.id}.`);
      const subject = {
        op: change.op,
        id: change.id,
        input:
          change.op === 'delete' ? null : (JSON.parse(JSON.stringify(change.input)) as JsonValue),
        requestedBy: ctx.actor,
      } satisfies JsonObject;
      const approval = await approvals.hold(
        {
          kind: POLICY_CHANGE_KIND,
          subject,
          digest: digest(subject),
          initiator: ctx.person,
          quorum,
        },
        ctx,
      );
      return { approvalId: approval.id, quorum };
    },
  };
}

function missingInput(): never {
  throw new PortcullisError('VALIDATION_FAILED', 'The held policy change has no policy.');
}
