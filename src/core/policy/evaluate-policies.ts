/**
 * Policy decisions. Semantics ("all applicable policies must pass", reference §2.5 #1):
 * - a policy applies when its target matches the request; if no enforce-mode policy applies the
 *   answer is `not-applicable` (scopes alone decide, as before any policy was attached);
 * - otherwise forbid overrides permit, and what no permit covers is denied (default deny);
 * - an evaluation error in ANY applicable enforce policy, permit or forbid, counts as a matching
 *   forbid: fail closed, never ignored the way Cedar ignores an erroring forbid (§5.3 #12);
 * - shadow-mode policies are evaluated and reported, never enforced.
 */
import { evaluationFault } from './cel-diagnostics.js';
import type { CompiledPolicy, PolicySet } from './compile-policy-set.js';
import type { PolicyEffect, PolicyMode } from './model.js';
import type { PolicyContext } from './policy-context.js';

export type PolicyDecisionKind = 'permit' | 'deny' | 'not-applicable';

export type PolicyReason =
  'PERMIT_MATCHED' | 'FORBID_MATCHED' | 'EVALUATION_ERROR' | 'NO_PERMIT' | 'NO_POLICY_APPLIES';

export type ConditionOutcome = 'matched' | 'not-matched' | 'error';

/** One applicable policy in a decision's explanation, in set order. */
export interface PolicyExplanation {
  readonly policyId: string;
  readonly version: number;
  readonly effect: PolicyEffect;
  readonly mode: PolicyMode;
  readonly outcome: ConditionOutcome;
  /** Present when the condition failed to evaluate (a CEL error code and a one-line summary). */
  readonly error?: { readonly code: string; readonly message: string };
}

/** A shadow policy's result, and the decision the set would take were it switched on. */
export interface ShadowResult {
  readonly policyId: string;
  readonly version: number;
  readonly outcome: ConditionOutcome;
  readonly wouldBe: PolicyDecisionKind;
}

export interface PolicyDecision {
  readonly decision: PolicyDecisionKind;
  readonly reason: PolicyReason;
  /** The policy that decided; absent for NO_PERMIT and NO_POLICY_APPLIES. */
  readonly decidedBy?: { readonly policyId: string; readonly version: number };
  readonly shadow: readonly ShadowResult[];
  readonly explanation: readonly PolicyExplanation[];
}

interface Tally {
  applicable: boolean;
  forbid: CompiledPolicy | undefined;
  error: CompiledPolicy | undefined;
  permit: CompiledPolicy | undefined;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * Decides a request against a compiled set. Never throws. With `explain` false the explanation
 * is left empty (the data plane's hot path: the decision, decider and shadow results are the same).
 */
export function evaluatePolicies(
  set: PolicySet,
  context: PolicyContext,
  explain = true,
): PolicyDecision {
  const candidates = set.candidates(context.action, context.environment);
  const tally: Tally = {
    applicable: false,
    forbid: undefined,
    error: undefined,
    permit: undefined,
  };
  const explanation: PolicyExplanation[] | undefined = explain ? [] : undefined;
  let shadowed: { policy: CompiledPolicy; outcome: ConditionOutcome }[] | undefined;
  for (const policy of candidates) {
    if (policy.accounts !== null && !policy.accounts.has(context.accountId)) continue;
    if (policy.keys !== null && !policy.keys.has(context.keyId)) continue;
    const fast = fastOutcome(policy, context);
    let outcome: ConditionOutcome;
    if (fast === undefined || explain) {
      const entry = fast === undefined ? run(policy, context) : explained(policy, fast);
      explanation?.push(entry);
      outcome = entry.outcome;
    } else outcome = fast;
    if (policy.mode === 'shadow') {
      (shadowed ??= []).push({ policy, outcome });
      continue;
    }
    tally.applicable = true;
    if (outcome === 'error') tally.error ??= policy;
    else if (outcome === 'matched') {
      if (policy.effect === 'forbid') tally.forbid ??= policy;
      else tally.permit ??= policy;
    }
  }
  if (shadowed === undefined && explanation === undefined) return quietDecision(tally);
  const { decision, reason, decidedBy } = decide(tally);
  const shadow =
    shadowed === undefined
      ? NONE
      : shadowed.map(({ policy, outcome }) => ({
          policyId: policy.id,
          version: policy.version,
          outcome,
          wouldBe: decide(withPolicy(tally, policy, outcome)).decision,
        }));
  return decidedBy === undefined
    ? { decision, reason, shadow, explanation: explanation ?? NONE }
    : { decision, reason, decidedBy, shadow, explanation: explanation ?? NONE };
}

const NOT_APPLICABLE: PolicyDecision = Object.freeze({
  decision: 'not-applicable',
  reason: 'NO_POLICY_APPLIES',
  shadow: NONE,
  explanation: NONE,
});
const NO_PERMIT: PolicyDecision = Object.freeze({
  decision: 'deny',
  reason: 'NO_PERMIT',
  shadow: NONE,
  explanation: NONE,
});

/** `decide` without shadow results or explanation, in one object (the data plane's hot path). */
function quietDecision(tally: Tally): PolicyDecision {
  if (!tally.applicable) return NOT_APPLICABLE;
  const { forbid, error, permit } = tally;
  if (forbid !== undefined) return quiet('deny', 'FORBID_MATCHED', forbid);
  if (error !== undefined) return quiet('deny', 'EVALUATION_ERROR', error);
  if (permit !== undefined) return quiet('permit', 'PERMIT_MATCHED', permit);
  return NO_PERMIT;
}

function quiet(
  decision: PolicyDecisionKind,
  reason: PolicyReason,
  policy: CompiledPolicy,
): PolicyDecision {
  return { decision, reason, decidedBy: policy.decider, shadow: NONE, explanation: NONE };
}

/** The fast condition's answer; undefined when there is none or CEL must decide (an error). */
function fastOutcome(policy: CompiledPolicy, context: PolicyContext): ConditionOutcome | undefined {
  if (policy.fast === null) return undefined;
  const value = policy.fast(context.input);
  return value === undefined ? undefined : value ? 'matched' : 'not-matched';
}

function run(policy: CompiledPolicy, context: PolicyContext): PolicyExplanation {
  let value: unknown;
  try {
    value = policy.program(context.variables);
  } catch (error) {
    return explained(policy, 'error', evaluationFault(error));
  }
  if (value === true) return explained(policy, 'matched');
  if (value === false) return explained(policy, 'not-matched');
  // Type checking guarantees bool; anything else is a fault, and faults deny.
  return explained(policy, 'error', { code: 'not_bool', message: 'not a bool' });
}

/** Object literals, not spreads: spreading is the slowest part of the hot path in V8. */
function explained(
  policy: CompiledPolicy,
  outcome: ConditionOutcome,
  error?: { readonly code: string; readonly message: string },
): PolicyExplanation {
  const head = {
    policyId: policy.id,
    version: policy.version,
    effect: policy.effect,
    mode: policy.mode,
    outcome,
  };
  return error === undefined ? head : { ...head, error };
}

function decide(tally: Tally): Pick<PolicyDecision, 'decision' | 'reason' | 'decidedBy'> {
  if (!tally.applicable) return { decision: 'not-applicable', reason: 'NO_POLICY_APPLIES' };
  if (tally.forbid) return deny('FORBID_MATCHED', tally.forbid);
  if (tally.error) return deny('EVALUATION_ERROR', tally.error);
  if (tally.permit) {
    return {
      decision: 'permit',
      reason: 'PERMIT_MATCHED',
      decidedBy: tally.permit.decider,
    };
  }
  return { decision: 'deny', reason: 'NO_PERMIT' };
}

function deny(
  reason: PolicyReason,
  policy: CompiledPolicy,
): Pick<PolicyDecision, 'decision' | 'reason' | 'decidedBy'> {
  return { decision: 'deny', reason, decidedBy: policy.decider };
}

/** The tally as if one shadow policy were enforced alongside the enforce-mode ones. */
function withPolicy(tally: Tally, policy: CompiledPolicy, outcome: ConditionOutcome): Tally {
  const next: Tally = {
    applicable: true,
    forbid: tally.forbid,
    error: tally.error,
    permit: tally.permit,
  };
  if (outcome === 'error') next.error ??= policy;
  else if (outcome === 'matched') {
    if (policy.effect === 'forbid') next.forbid ??= policy;
    else next.permit ??= policy;
  }
  return next;
}
