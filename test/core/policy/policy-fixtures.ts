import {
  buildPolicyContext,
  compilePolicySet,
  type Policy,
  type PolicyContext,
  type PolicyContextInput,
  type PolicySet,
} from '../../../src/core/policy/index.js';

/** 2024-01-15T14:30:00Z, a Monday. */
export const NOW_MS = Date.UTC(2024, 0, 15, 14, 30, 0);
const DAY_MS = 86_400_000;

export function policy(overrides: Partial<Policy> & Pick<Policy, 'id'>): Policy {
  return {
    version: 1,
    effect: 'permit',
    target: {},
    condition: 'true',
    mode: 'enforce',
    ...overrides,
  };
}

/** Compiles or fails the test with the errors. */
export function compiled(policies: readonly Policy[]): PolicySet {
  const result = compilePolicySet(policies);
  if (!result.ok) throw new Error(`policy set refused: ${JSON.stringify(result.errors)}`);
  return result.set;
}

type ContextOverrides = Partial<Omit<PolicyContextInput, 'key' | 'request'>> & {
  key?: Partial<PolicyContextInput['key']>;
  request?: Partial<PolicyContextInput['request']>;
};

export function context(overrides: ContextOverrides = {}): PolicyContext {
  return buildPolicyContext({
    accountId: overrides.accountId ?? 'acc_1',
    action: overrides.action ?? 'order.place',
    params: overrides.params ?? { symbol: 'BTCUSDT', side: 'BUY', notional: 1000 },
    nowMs: overrides.nowMs ?? NOW_MS,
    key: {
      id: 'pk_live_1',
      scopes: ['read', 'trade'],
      createdAt: NOW_MS - 10 * DAY_MS,
      label: 'bot',
      ...overrides.key,
    },
    request: {
      ip: '203.0.113.7',
      environment: 'production',
      method: 'POST',
      path: '/v1/orders',
      ...overrides.request,
    },
  });
}
