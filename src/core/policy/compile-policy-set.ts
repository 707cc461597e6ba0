/**
 * Compiling a policy set: every condition parsed and type-checked against the declared context
 * once, when the set is loaded or changed. All or nothing — one bad policy rejects the whole
 * set, so a set is never half-applied (reference §5.3 #12: a load failure must not fail open).
 */
import type { ParseResult } from '@marcbachmann/cel-js';
import { isEnvironment, type Environment } from '../keys/model.js';
import { checkCidrLiterals, diagnosticOf } from './cel-diagnostics.js';
import { compileFastCondition, type FastCondition } from './compile-fast-condition.js';
import {
  POLICY_EFFECTS,
  POLICY_LIMITS,
  POLICY_MODES,
  type Policy,
  type PolicyEffect,
  type PolicyMode,
} from './model.js';
import { CIDR_FUNCTIONS, policyConditionEnvironment } from './policy-environment.js';
import { createPolicyIndex, type PolicyIndex } from './policy-index.js';

/** One policy, compiled: its condition is a ready-to-call program. */
export interface CompiledPolicy {
  readonly id: string;
  readonly version: number;
  readonly effect: PolicyEffect;
  readonly mode: PolicyMode;
  /** Action patterns; null matches every action. */
  readonly actions: readonly string[] | null;
  readonly environments: ReadonlySet<Environment> | null;
  readonly accounts: ReadonlySet<string> | null;
  readonly keys: ReadonlySet<string> | null;
  readonly program: ParseResult;
  /** The condition as plain JavaScript when it has one of the fast shapes; CEL otherwise. */
  readonly fast: FastCondition | null;
  /** Id and version as a decision records them (one frozen object, not one per decision). */
  readonly decider: { readonly policyId: string; readonly version: number };
  readonly source: Policy;
}

/** A compiled, immutable policy set with its action index. */
export interface PolicySet {
  readonly policies: readonly CompiledPolicy[];
  /** Policies (enforce and shadow, in set order) whose action and environment match. */
  candidates(action: string, environment: Environment): readonly CompiledPolicy[];
}

export interface PolicyCompileError {
  /** The policy's id, or `#index` when the id itself is unusable. */
  readonly policyId: string;
  readonly code: string;
  readonly message: string;
  /** 1-based position inside the condition; 1:1 for errors outside it. */
  readonly line: number;
  readonly column: number;
}

export type CompilePolicySetResult =
  | { readonly ok: true; readonly set: PolicySet }
  | { readonly ok: false; readonly errors: readonly PolicyCompileError[] };

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const ACTION_PATTERN = /^(?:\*|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*(?:\.\*)?)$/;

/** Compiles a policy set; any error rejects the whole set. */
export function compilePolicySet(policies: readonly Policy[]): CompilePolicySetResult {
  if (policies.length > POLICY_LIMITS.maxPolicies) {
    return failure([
      atStart('#set', 'too_many_policies', `at most ${POLICY_LIMITS.maxPolicies} policies`),
    ]);
  }
  const errors: PolicyCompileError[] = [];
  const compiled: CompiledPolicy[] = [];
  const seen = new Set<string>();
  policies.forEach((policy, index) => {
    const name = typeof policy.id === 'string' && policy.id !== '' ? policy.id : `#${index}`;
    if (seen.has(name)) {
      errors.push(atStart(name, 'duplicate_id', 'another policy has the same id'));
      return;
    }
    seen.add(name);
    const result = compilePolicy(name, policy);
    if ('errors' in result) errors.push(...result.errors);
    else compiled.push(result.policy);
  });
  if (errors.length > 0) return failure(errors);
  const index: PolicyIndex<CompiledPolicy> = createPolicyIndex(compiled);
  return {
    ok: true,
    set: Object.freeze({
      policies: Object.freeze(compiled),
      candidates: (action: string, environment: Environment) => index.lookup(action, environment),
    }),
  };
}

function compilePolicy(
  name: string,
  policy: Policy,
): { policy: CompiledPolicy } | { errors: PolicyCompileError[] } {
  const shapeErrors = checkShape(name, policy);
  if (shapeErrors.length > 0) return { errors: shapeErrors };
  const env = policyConditionEnvironment();
  const source = policy.condition;
  let program: ParseResult;
  try {
    program = env.parse(source);
  } catch (error) {
    return { errors: [located(name, diagnosticOf(source, error, 'parse_error'))] };
  }
  const checked = program.check();
  if (!checked.valid) {
    return { errors: [located(name, diagnosticOf(source, checked.error, 'type_error'))] };
  }
  if (checked.type !== 'bool') {
    const message = `the condition must be a bool, it is ${checked.type ?? 'unknown'}`;
    return { errors: [atStart(name, 'not_bool', message)] };
  }
  const cidrErrors = checkCidrLiterals(source, program.ast, CIDR_FUNCTIONS);
  if (cidrErrors.length > 0) return { errors: cidrErrors.map((d) => located(name, d)) };
  const { target } = policy;
  return {
    policy: Object.freeze({
      id: policy.id,
      version: policy.version,
      effect: policy.effect,
      mode: policy.mode,
      actions: nonEmpty(target.actions),
      environments: setOf(target.environments),
      accounts: setOf(target.accounts),
      keys: setOf(target.keys),
      program,
      fast: compileFastCondition(program.ast) ?? null,
      decider: Object.freeze({ policyId: policy.id, version: policy.version }),
      source: policy,
    }),
  };
}

function checkShape(name: string, policy: Policy): PolicyCompileError[] {
  const errors: PolicyCompileError[] = [];
  const fail = (code: string, message: string): void => {
    errors.push(atStart(name, code, message));
  };
  if (
    typeof policy.id !== 'string' ||
    policy.id.length > POLICY_LIMITS.maxIdLength ||
    !ID_PATTERN.test(policy.id)
  ) {
    fail('invalid_id', 'the id must be 1–128 characters of letters, digits and _ . : -');
  }
  if (!Number.isSafeInteger(policy.version) || policy.version < 1) {
    fail('invalid_version', 'the version must be a positive integer');
  }
  if (!(POLICY_EFFECTS as readonly string[]).includes(policy.effect)) {
    fail('invalid_effect', 'the effect must be permit or forbid');
  }
  if (!(POLICY_MODES as readonly string[]).includes(policy.mode)) {
    fail('invalid_mode', 'the mode must be enforce or shadow');
  }
  if (typeof policy.condition !== 'string' || policy.condition.trim() === '') {
    fail('invalid_condition', 'the condition must be a non-empty CEL expression');
  } else if (policy.condition.length > POLICY_LIMITS.maxConditionLength) {
    fail('condition_too_long', `at most ${POLICY_LIMITS.maxConditionLength} characters`);
  }
  errors.push(...checkTarget(name, policy));
  return errors;
}

function checkTarget(name: string, policy: Policy): PolicyCompileError[] {
  const errors: PolicyCompileError[] = [];
  const { target } = policy;
  if (typeof target !== 'object' || target === null) {
    return [atStart(name, 'invalid_target', 'the target must be an object')];
  }
  const lists = [target.actions, target.environments, target.accounts, target.keys];
  for (const list of lists) {
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.some((entry) => typeof entry !== 'string' || entry === '')) {
      errors.push(atStart(name, 'invalid_target', 'target lists hold non-empty strings'));
    } else if (list.length > POLICY_LIMITS.maxTargetEntries) {
      errors.push(atStart(name, 'invalid_target', 'a target list is too long'));
    }
  }
  if (errors.length > 0) return errors;
  for (const action of target.actions ?? []) {
    if (!ACTION_PATTERN.test(action)) {
      errors.push(atStart(name, 'invalid_action', `"${action}" is not an action or family.*`));
    }
  }
  for (const environment of (target.environments ?? []) as readonly string[]) {
    if (!isEnvironment(environment)) {
      errors.push(atStart(name, 'invalid_environment', `"${environment}" is not an environment`));
    }
  }
  return errors;
}

function nonEmpty<T>(list: readonly T[] | undefined): readonly T[] | null {
  return list === undefined || list.length === 0 ? null : Object.freeze([...list]);
}

function setOf<T>(list: readonly T[] | undefined): ReadonlySet<T> | null {
  return list === undefined || list.length === 0 ? null : new Set(list);
}

function located(
  policyId: string,
  diagnostic: { code: string; message: string; line: number; column: number },
): PolicyCompileError {
  return { policyId, ...diagnostic };
}

function atStart(policyId: string, code: string, message: string): PolicyCompileError {
  return { policyId, code, message, line: 1, column: 1 };
}

function failure(errors: readonly PolicyCompileError[]): CompilePolicySetResult {
  return { ok: false, errors };
}
