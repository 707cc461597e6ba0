/**
 * The data-plane policy step (no explanation, fast conditions, the skip for actions no rule
 * targets) answers exactly as the general path: extract, build the context, decideRequest with
 * explanations, and the step's mapping of the verdict.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRouteExtractors, DEFAULT_ROUTES } from '../../../src/app/data-planes.js';
import type { ApiKey } from '../../../src/core/keys/model.js';
import {
  buildPolicyContext,
  compileRules,
  decideRequest,
  type PolicyRule,
} from '../../../src/core/policy/index.js';
import { createPolicyStep, type PolicyStepInput } from '../../../src/core/policy/policy-step.js';
import { BENCH_POLICIES } from '../../../bench/policies.js';
import { NOW_MS } from './policy-fixtures.js';

const extractors = compileRouteExtractors(DEFAULT_ROUTES);
const nativeRoute = (action: string) => {
  const found = DEFAULT_ROUTES.find((r) => r.action === action && r.dialect === 'native');
  if (found === undefined) throw new Error(`no native route for ${action}`);
  return found;
};
const ROUTES = ['order.place', 'order.cancel', 'withdrawal.create', 'balance.read', 'time.read'];

/** The general path, as the step was before its shortcuts. */
function generalPath(rules: readonly PolicyRule[], input: PolicyStepInput) {
  const snapshot = compileRules(rules);
  const extracted = extractors.get(input.route)?.extract({
    query: {},
    pathParams: input.pathParams,
    body: JSON.parse(input.body.toString('utf8')) as unknown,
  });
  if (extracted !== undefined && !extracted.ok) return { outcome: 'deny', reason: 'BAD_REQUEST' };
  const params = extracted?.params ?? {};
  const verdict = decideRequest(
    snapshot,
    buildPolicyContext({
      key: {
        id: input.key.id,
        scopes: input.key.scopes,
        createdAt: input.key.createdAt,
        label: input.key.label,
        riskLevel: input.riskLevel ?? 'normal',
      },
      accountId: input.key.accountId,
      action: input.route.action,
      params,
      request: {
        ip: input.clientIp,
        environment: 'sandbox',
        method: input.method,
        path: input.path,
      },
      nowMs: input.nowMs,
    }),
  );
  if (verdict.outcome === 'deny') {
    return {
      outcome: 'deny',
      reason: 'POLICY_DENIED',
      ...(verdict.decidedBy !== undefined ? { decidedBy: verdict.decidedBy } : {}),
      policyReason: verdict.reason,
    };
  }
  return {
    outcome: 'allow',
    params,
    decimals: extracted?.ok === true ? extracted.decimals : {},
    ...(verdict.approval !== undefined ? { approval: verdict.approval } : {}),
    shadow: [...verdict.policy.shadow, ...verdict.approvalRules.shadow],
  };
}

const arbRules = fc.subarray([...BENCH_POLICIES]).chain((rules) =>
  fc
    .array(fc.constantFrom<'enforce' | 'shadow'>('enforce', 'enforce', 'shadow'), {
      minLength: rules.length,
      maxLength: rules.length,
    })
    .map((modes) => rules.map((rule, i) => ({ ...rule, mode: modes[i] ?? 'enforce' }))),
);

const arbInput = fc
  .record({
    action: fc.constantFrom(...ROUTES),
    notional: fc.constantFrom('0.5', '250000', '7000000'),
    symbol: fc.constantFrom('BTCUSDT', 'DOGEUSDT'),
    amount: fc.constantFrom('5', '50000', '200000', 'abc'),
    hour: fc.integer({ min: 0, max: 23 }),
    ageDays: fc.constantFrom(0.5, 10, 5000),
    ip: fc.constantFrom('127.0.0.1', '10.0.0.1', '203.0.113.7'),
    riskLevel: fc.option(fc.constantFrom('normal' as const, 'high' as const), { nil: undefined }),
  })
  .map((r): PolicyStepInput => {
    const nowMs = NOW_MS + (r.hour - 14) * 3_600_000;
    const key = {
      id: 'pk_test_1',
      accountId: 'acc_1',
      scopes: ['read', 'trade', 'withdraw'],
      createdAt: nowMs - r.ageDays * 86_400_000,
      label: 'bot',
    } as unknown as ApiKey;
    const body = {
      symbol: r.symbol,
      side: 'BUY',
      type: 'LIMIT',
      quantity: '1',
      price: r.notional,
      asset: 'USDT',
      amount: r.amount,
      address: 'T123',
    };
    return {
      key,
      route: nativeRoute(r.action),
      pathParams: {},
      method: 'POST',
      path: '/api/v1/x',
      clientIp: r.ip,
      nowMs,
      query: null,
      body: Buffer.from(JSON.stringify(body)),
      riskLevel: r.riskLevel,
    };
  });

describe('policy step', () => {
  it('answers as the general path, whatever rules are loaded', () => {
    fc.assert(
      fc.property(arbRules, arbInput, (rules, input) => {
        const snapshot = compileRules(rules);
        const step = createPolicyStep({
          environment: 'sandbox',
          snapshot: () => snapshot,
          extractors,
        });
        expect(step.check(input)).toEqual(generalPath(rules, input));
      }),
      { numRuns: 800 },
    );
  });
});
