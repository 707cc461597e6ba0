/**
 * Fast conditions (compile-fast-condition.ts) against CEL: over random conditions and random
 * contexts, a fast condition's true/false is always CEL's answer, and wherever CEL errs the fast
 * condition declines (undefined), so CEL decides. Policy decisions with and without the fast
 * conditions are identical, explanation included.
 */
import type { ParseResult } from '@marcbachmann/cel-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFastCondition } from '../../../src/core/policy/compile-fast-condition.js';
import {
  buildPolicyContext,
  compileRules,
  evaluatePolicies,
  type CompiledPolicy,
  type Policy,
  type PolicyContextInput,
  type PolicySet,
} from '../../../src/core/policy/index.js';
import { policyConditionEnvironment } from '../../../src/core/policy/policy-environment.js';
import { BENCH_POLICIES } from '../../../bench/policies.js';
import { compiled, NOW_MS, policy } from './policy-fixtures.js';

const DAY_MS = 86_400_000;

const NUMBER_LITERALS = ['0.0', '1.0', '5000.5', '250000.0', '1e9', '100', '0', '3', '-2.5'];
const ORDER = ['<', '<=', '>', '>='];
const EQUALITY = ['==', '!='];

const atom = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('params.notional', 'params.amount', 'params.price', 'key.ageDays'),
      fc.constantFrom(...ORDER, ...EQUALITY),
      fc.constantFrom(...NUMBER_LITERALS),
    )
    .map((parts) => parts.join(' ')),
  fc
    .tuple(
      fc.constantFrom('time.hourUtc', 'time.weekdayUtc'),
      fc.constantFrom(...ORDER, ...EQUALITY),
      fc.constantFrom('0', '3', '6', '14', '3.5'),
    )
    .map((parts) => parts.join(' ')),
  fc
    .tuple(
      fc.constantFrom(
        'params.symbol',
        'params.side',
        'params.asset',
        'key.riskLevel',
        'key.label',
        'key.id',
        'account.id',
        'action.name',
        'request.ip',
        'request.environment',
        'request.method',
      ),
      fc.constantFrom(...EQUALITY),
      fc.constantFrom('"BTCUSDT"', '"BUY"', '"normal"', '"high"', '"bot"', '"acc_1"', '""'),
    )
    .map((parts) => parts.join(' ')),
  fc.constantFrom(
    'true',
    'false',
    'params.symbol in ["BTCUSDT", "DOGEUSDT"]',
    'key.riskLevel in ["high", "locked"]',
    '"trade" in key.scopes',
    '"withdraw" in key.scopes',
    'has(params.notional)',
    'has(params.symbol)',
    'has(params.amount)',
    'ipInCidr(request.ip, "10.0.0.0/8")',
    'ipInCidr(request.ip, "::1/128")',
    'ipInAnyCidr(request.ip, ["10.0.0.0/8", "203.0.113.0/24"])',
    'params.symbol.endsWith("USDT")',
    'params.symbol.startsWith("BTC")',
    'params.side.contains("U")',
    'action.name.endsWith(".read")',
    'request.path.startsWith("/v1/")',
    // Shapes CEL alone evaluates (the whole condition is then left to CEL).
    'key.labels["team"] == "risk"',
    'size(key.scopes) > 1',
    'params.notional * 2.0 > 10.0',
    'params.symbol < "C"',
  ),
);

const { condition: arbCondition } = fc.letrec<{ condition: string }>((tie) => ({
  condition: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    tie('condition').map((a) => `!(${a})`),
    fc.tuple(tie('condition'), tie('condition')).map(([a, b]) => `(${a}) && (${b})`),
    fc.tuple(tie('condition'), tie('condition')).map(([a, b]) => `(${a}) || (${b})`),
    fc
      .tuple(tie('condition'), tie('condition'), tie('condition'))
      .map(([a, b, c]) => `(${a}) ? (${b}) : (${c})`),
  ),
}));

const numberValue = fc.constantFrom<unknown>(0, 1, 3, 5000.5, 250000, 1e9, -2.5, 0.1, 'abc');
const stringValue = fc.constantFrom<unknown>('BTCUSDT', 'DOGEUSDT', 'BUY', 'ETH', '', 7);

const arbInput: fc.Arbitrary<PolicyContextInput> = fc
  .record({
    params: fc.record(
      {
        notional: numberValue,
        amount: numberValue,
        price: numberValue,
        symbol: stringValue,
        side: stringValue,
        asset: stringValue,
      },
      { requiredKeys: [] },
    ),
    ageDays: fc.constantFrom(0, 0.5, 1, 90, 4000, -1),
    label: fc.option(fc.constantFrom('bot', ''), { nil: undefined }),
    riskLevel: fc.option(fc.constantFrom('normal', 'high', 'locked'), { nil: undefined }),
    scopes: fc.subarray(['read', 'trade', 'withdraw']),
    ip: fc.constantFrom('10.0.0.1', '203.0.113.7', '::1', '::ffff:10.1.2.3', 'not-an-ip'),
    environment: fc.constantFrom('sandbox', 'production'),
    action: fc.constantFrom('order.place', 'balance.read'),
    hour: fc.integer({ min: 0, max: 23 }),
    day: fc.integer({ min: 0, max: 6 }),
    // Mostly around the fixture's time; also any time value, fractional, negative or invalid.
    anyTime: fc.option(fc.oneof(fc.double(), fc.integer({ min: -8.64e15, max: 8.64e15 })), {
      freq: 4,
      nil: undefined,
    }),
  })
  .map((r) => ({
    key: {
      id: 'pk_live_1',
      scopes: r.scopes,
      createdAt: NOW_MS - r.ageDays * DAY_MS,
      ...(r.label !== undefined ? { label: r.label } : {}),
      ...(r.riskLevel !== undefined ? { riskLevel: r.riskLevel as 'normal' } : {}),
      labels: { team: 'risk' },
    },
    accountId: 'acc_1',
    action: r.action,
    // Some values deliberately of the wrong type: CEL's answer (or error) must still be kept.
    params: r.params as PolicyContextInput['params'],
    request: { ip: r.ip, environment: r.environment, method: 'POST', path: '/v1/orders' },
    nowMs: r.anyTime ?? NOW_MS + r.day * DAY_MS + (r.hour - 14) * 3_600_000,
  }));

function celOutcome(program: ParseResult, input: PolicyContextInput): boolean | 'error' {
  try {
    const value = program(buildPolicyContext(input).variables);
    return typeof value === 'boolean' ? value : 'error';
  } catch {
    return 'error';
  }
}

describe('fast conditions against CEL', () => {
  it('answer true/false only as CEL does, and decline wherever CEL errs', () => {
    const env = policyConditionEnvironment();
    let compared = 0;
    fc.assert(
      fc.property(
        arbCondition,
        fc.array(arbInput, { minLength: 1, maxLength: 8 }),
        (source, inputs) => {
          let program;
          try {
            program = env.parse(source);
          } catch {
            return;
          }
          if (!program.check().valid) return;
          const fast = compileFastCondition(program.ast);
          if (fast === undefined) return;
          for (const input of inputs) {
            const answer = fast(input);
            if (answer === undefined) continue;
            compared++;
            expect(answer).toBe(celOutcome(program, input));
          }
        },
      ),
      { numRuns: 1500 },
    );
    expect(compared).toBeGreaterThan(1000);
  });

  it.each([
    'params.notional < 250000.0 || ipInCidr(request.ip, "127.0.0.0/8")',
    'time.hourUtc == 3 && params.notional > 5000000.0',
    '!ipInCidr(request.ip, "0.0.0.0/0")',
    'params.symbol.endsWith("USDT") && params.notional > 250000.0',
    'key.ageDays > 90.0 && !action.name.endsWith(".read")',
    'key.riskLevel != "normal"',
    'params.amount <= 100000',
  ])('compiles %s', (source) => {
    expect(compileFastCondition(policyConditionEnvironment().parse(source).ast)).toBeDefined();
  });

  it.each([
    'key.labels["team"] == "risk"',
    'size(key.scopes) > 1',
    'params.symbol < "C"',
    'params.notional > 9223372036854775807',
    'time.now > timestamp("2024-01-01T00:00:00Z")',
    '["a"].exists(key, key == "a")',
  ])('leaves %s to CEL', (source) => {
    expect(compileFastCondition(policyConditionEnvironment().parse(source).ast)).toBeUndefined();
  });

  it('covers every benchmark policy', () => {
    const snapshot = compileRules(BENCH_POLICIES);
    if (!snapshot.ok) throw new Error(JSON.stringify(snapshot.errors));
    const all = [...snapshot.enforce.policies, ...snapshot.approvals.policies];
    expect(all.filter((p) => p.fast === null).map((p) => p.id)).toEqual([]);
  });
});

/** The same set with every fast condition removed: CEL evaluates everything. */
function celOnly(set: PolicySet): PolicySet {
  const strip = (p: CompiledPolicy): CompiledPolicy => ({ ...p, fast: null });
  return {
    policies: set.policies.map(strip),
    candidates: (action, environment) => set.candidates(action, environment).map(strip),
  };
}

const arbPolicy = fc.record({
  effect: fc.constantFrom<'permit' | 'forbid'>('permit', 'forbid'),
  condition: arbCondition,
  mode: fc.constantFrom<'enforce' | 'shadow'>('enforce', 'enforce', 'shadow'),
  action: fc.constantFrom('order.place', 'order.*', 'balance.read'),
});

describe('decisions with and without fast conditions', () => {
  it('are identical: decision, reason, decider, shadow results and explanation', () => {
    const env = policyConditionEnvironment();
    fc.assert(
      fc.property(fc.array(arbPolicy, { maxLength: 8 }), arbInput, (drafts, input) => {
        const policies: Policy[] = drafts
          .filter((d) => {
            try {
              return env.parse(d.condition).check().type === 'bool';
            } catch {
              return false;
            }
          })
          .map((d, index) =>
            policy({
              id: `p${index}`,
              effect: d.effect,
              mode: d.mode,
              condition: d.condition,
              target: { actions: [d.action] },
            }),
          );
        const set = compiled(policies);
        const context = buildPolicyContext(input);
        const general = evaluatePolicies(celOnly(set), buildPolicyContext(input));
        expect(evaluatePolicies(set, context)).toEqual(general);
        const { explanation, ...decision } = general;
        void explanation;
        expect(evaluatePolicies(set, context, false)).toEqual({ ...decision, explanation: [] });
      }),
      { numRuns: 600 },
    );
  });
});
