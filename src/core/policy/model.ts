/** The policy model: what an operator writes, before it is compiled. */
import type { Environment } from '../keys/model.js';

export const POLICY_EFFECTS = ['permit', 'forbid'] as const;
export type PolicyEffect = (typeof POLICY_EFFECTS)[number];

export const POLICY_MODES = ['enforce', 'shadow'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

/**
 * Which requests a policy applies to. Every listed dimension must match; an omitted or empty
 * list matches everything. Actions are exact names (`order.place`), a family (`order.*`) or `*`.
 */
export interface PolicyTarget {
  readonly actions?: readonly string[];
  readonly environments?: readonly Environment[];
  readonly accounts?: readonly string[];
  readonly keys?: readonly string[];
}

export interface Policy {
  readonly id: string;
  /** Bumped on every change; recorded with every decision. */
  readonly version: number;
  readonly effect: PolicyEffect;
  readonly target: PolicyTarget;
  /** A CEL expression of type bool over the documented context (docs/policies.md). */
  readonly condition: string;
  readonly mode: PolicyMode;
  readonly description?: string;
}

/**
 * The request parameters a route can extract, with their CEL types. Amounts and quantities are
 * CEL doubles: thresholds compare sensibly (`params.notional > 250000.0`, and `> 250000` works
 * too because CEL compares int and double), while exact decimal arithmetic stays in the
 * transaction rules, which read the decimal text kept by the extractor.
 */
export const PARAM_TYPES = {
  symbol: 'string',
  side: 'string',
  orderType: 'string',
  quantity: 'double',
  price: 'double',
  notional: 'double',
  asset: 'string',
  network: 'string',
  amount: 'double',
  address: 'string',
  memo: 'string',
  orderId: 'string',
} as const satisfies Record<string, 'string' | 'double'>;

export type ParamName = keyof typeof PARAM_TYPES;

/** Extracted parameters as the policies see them; a parameter the request lacks is absent. */
export type PolicyParams = {
  readonly [P in ParamName]?: (typeof PARAM_TYPES)[P] extends 'double' ? number : string;
};

export function isParamName(name: string): name is ParamName {
  return Object.prototype.hasOwnProperty.call(PARAM_TYPES, name);
}

/** Risk levels a key can carry: set by the anomaly responses in force, `normal` without any. */
export type RiskLevel = 'normal' | 'elevated' | 'high' | 'locked';

/** Bounds on what one policy may hold, so a policy set cannot make evaluation expensive. */
export const POLICY_LIMITS = {
  maxPolicies: 1000,
  maxIdLength: 128,
  maxConditionLength: 4096,
  maxTargetEntries: 256,
  maxAstNodes: 512,
  maxDepth: 32,
} as const;
