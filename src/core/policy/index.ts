/** The policy language: compile once, evaluate per request, explain. See docs/policies.md. */
export * from './model.js';
export * from './policy-context.js';
export { compilePolicySet } from './compile-policy-set.js';
export type {
  CompiledPolicy,
  CompilePolicySetResult,
  PolicyCompileError,
  PolicySet,
} from './compile-policy-set.js';
export { evaluatePolicies } from './evaluate-policies.js';
export type {
  ConditionOutcome,
  PolicyDecision,
  PolicyDecisionKind,
  PolicyExplanation,
  PolicyReason,
  ShadowResult,
} from './evaluate-policies.js';
export { compileExtractors } from './compile-extractors.js';
export type {
  CompileExtractorsResult,
  ExtractError,
  ExtractorCompileError,
  ExtractorInput,
  ExtractResult,
  ParameterExtractor,
} from './compile-extractors.js';
export { positionOf } from './cel-diagnostics.js';
export {
  compileRules,
  decideRequest,
  explainVerdict,
  DEFAULT_APPROVAL_QUORUM,
} from './decide-request.js';
export type {
  PolicyRule,
  RequestVerdict,
  RuleExplanation,
  RuleSnapshot,
} from './decide-request.js';
