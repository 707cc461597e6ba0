/** Validation of limit rules, run once when the configuration is loaded. */
import type { LimitRule } from './types.js';

/** Rule names travel in structured-field strings and Redis keys: keep them plain. */
const RULE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The longest window a rule may have: a week keeps every time sum far below 2^53. */
export const MAX_WINDOW_MS = 7 * 86_400_000;

/** Problems with a rule, as short English phrases; empty when the rule is valid. */
export function limitRuleProblems(rule: LimitRule): string[] {
  const problems: string[] = [];
  if (!RULE_NAME.test(rule.name)) problems.push('name must match [a-z0-9][a-z0-9._-]{0,62}');
  if (!Number.isSafeInteger(rule.windowMs) || rule.windowMs < 1 || rule.windowMs > MAX_WINDOW_MS) {
    problems.push(`windowMs must be an integer between 1 and ${MAX_WINDOW_MS}`);
  }
  if (!Number.isSafeInteger(rule.limit) || rule.limit < 1) {
    problems.push('limit must be a positive integer');
  }
  return problems;
}
