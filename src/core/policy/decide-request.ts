/**
 * One request against the loaded rules: the permit/forbid set decides allow or deny, then the
 * `require-approval` rules decide whether an allowed request is held for multi-party approval.
 *
 * Approval rules are compiled as a second set whose policies all carry effect `forbid`: a matching
 * rule then reads as FORBID_MATCHED (approval needed), no match as NO_PERMIT (not needed), and an
 * erroring rule as EVALUATION_ERROR, which denies the request (fail closed, as everywhere else).
 */
import { compilePolicySet, type PolicyCompileError, type PolicySet } from './compile-policy-set.js';
import {
  evaluatePolicies,
  type PolicyDecision,
  type PolicyExplanation,
  type ShadowResult,
} from './evaluate-policies.js';
import type { Policy, PolicyEffect, PolicyMode, PolicyTarget } from './model.js';
import type { PolicyContext } from './policy-context.js';

/** A rule as an operator writes it: a policy, or a `require-approval` rule with a quorum. */
export interface PolicyRule {
  readonly id: string;
  readonly version: number;
  readonly effect: PolicyEffect | 'require-approval';
  readonly target: PolicyTarget;
  readonly condition: string;
  readonly mode: PolicyMode;
  readonly description?: string;
  /** Distinct approvers a `require-approval` rule needs (default 2). */
  readonly quorum?: number | null;
}

export const DEFAULT_APPROVAL_QUORUM = 2;

/** The loaded rules: both sets compiled, or the load failed and every request is refused. */
export type RuleSnapshot =
  | {
      readonly ok: true;
      readonly enforce: PolicySet;
      readonly approvals: PolicySet;
      readonly quorums: ReadonlyMap<string, number>;
      readonly size: number;
    }
  | { readonly ok: false; readonly errors: readonly PolicyCompileError[] };

export type RequestVerdict =
  | {
      readonly outcome: 'allow';
      /** Present when a `require-approval` rule matched: the request must be held. */
      readonly approval?: {
        readonly policyId: string;
        readonly version: number;
        readonly quorum: number;
      };
      readonly policy: PolicyDecision;
      readonly approvalRules: PolicyDecision;
    }
  | {
      readonly outcome: 'deny';
      /** The policy that decided; absent for default deny and a refused (unloaded) set. */
      readonly decidedBy?: { readonly policyId: string; readonly version: number };
      readonly reason: PolicyDecision['reason'] | 'POLICY_SET_UNAVAILABLE';
      readonly policy?: PolicyDecision;
      readonly approvalRules?: PolicyDecision;
    };

/** Compiles rules into a snapshot; all or nothing across both sets. */
export function compileRules(rules: readonly PolicyRule[]): RuleSnapshot {
  const plain: Policy[] = [];
  const approval: Policy[] = [];
  const quorums = new Map<string, number>();
  for (const rule of rules) {
    const { quorum, effect, ...rest } = rule;
    if (effect === 'require-approval') {
      approval.push({ ...rest, effect: 'forbid' });
      quorums.set(rule.id, quorum ?? DEFAULT_APPROVAL_QUORUM);
    } else {
      plain.push({ ...rest, effect });
    }
  }
  const enforce = compilePolicySet(plain);
  const approvals = compilePolicySet(approval);
  const errors = [...(enforce.ok ? [] : enforce.errors), ...(approvals.ok ? [] : approvals.errors)];
  for (const rule of approval) {
    if (plain.some((p) => p.id === rule.id)) {
      errors.push({
        policyId: rule.id,
        code: 'duplicate_id',
        message: 'another policy has the same id',
        line: 1,
        column: 1,
      });
    }
  }
  if (!enforce.ok || !approvals.ok || errors.length > 0) return { ok: false, errors };
  return { ok: true, enforce: enforce.set, approvals: approvals.set, quorums, size: rules.length };
}

/** Decides one request. Never throws. `explain` false leaves the explanations empty. */
export function decideRequest(
  snapshot: RuleSnapshot,
  context: PolicyContext,
  explain = true,
): RequestVerdict {
  if (!snapshot.ok) return { outcome: 'deny', reason: 'POLICY_SET_UNAVAILABLE' };
  const policy = evaluatePolicies(snapshot.enforce, context, explain);
  if (policy.decision === 'deny') {
    return policy.decidedBy === undefined
      ? { outcome: 'deny', reason: policy.reason, policy }
      : { outcome: 'deny', reason: policy.reason, decidedBy: policy.decidedBy, policy };
  }
  const approvalRules = evaluatePolicies(snapshot.approvals, context, explain);
  if (approvalRules.reason === 'EVALUATION_ERROR' && approvalRules.decidedBy !== undefined) {
    return {
      outcome: 'deny',
      reason: 'EVALUATION_ERROR',
      decidedBy: approvalRules.decidedBy,
      policy,
      approvalRules,
    };
  }
  if (approvalRules.reason === 'FORBID_MATCHED' && approvalRules.decidedBy !== undefined) {
    const { policyId, version } = approvalRules.decidedBy;
    const quorum = snapshot.quorums.get(policyId) ?? DEFAULT_APPROVAL_QUORUM;
    return {
      outcome: 'allow',
      approval: { policyId, version, quorum },
      policy,
      approvalRules,
    };
  }
  return { outcome: 'allow', policy, approvalRules };
}

/** An explanation line whose effect may also be `require-approval`. */
export type RuleExplanation = Omit<PolicyExplanation, 'effect'> & {
  readonly effect: PolicyRule['effect'];
};

/** Shadow results and explanation of both sets, for logs and the simulate API. */
export function explainVerdict(verdict: RequestVerdict): {
  readonly explanation: readonly RuleExplanation[];
  readonly shadow: readonly ShadowResult[];
} {
  const approvals = (verdict.approvalRules?.explanation ?? []).map((entry): RuleExplanation => ({
    ...entry,
    effect: 'require-approval',
  }));
  return {
    explanation: [...(verdict.policy?.explanation ?? []), ...approvals],
    shadow: [...(verdict.policy?.shadow ?? []), ...(verdict.approvalRules?.shadow ?? [])],
  };
}
