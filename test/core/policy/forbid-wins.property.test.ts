import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluatePolicies, type Policy } from '../../../src/core/policy/index.js';
import { compiled, context } from './policy-fixtures.js';

/** Conditions that are true for the fixture context, and some that are false. */
const TRUE_CONDITIONS = [
  'true',
  'params.notional > 10.0',
  '"trade" in key.scopes',
  'request.environment == "production"',
  'time.hourUtc == 14',
  'key.ageDays < 90.0',
  '!ipInCidr(request.ip, "10.0.0.0/8")',
  'action.name.startsWith("order.")',
];
const FALSE_CONDITIONS = ['false', 'params.notional > 1e9', 'key.riskLevel == "high"'];

const arbPolicy = fc.record({
  effect: fc.constantFrom<'permit' | 'forbid'>('permit', 'forbid'),
  condition: fc.constantFrom(...TRUE_CONDITIONS, ...FALSE_CONDITIONS),
  mode: fc.constantFrom<'enforce' | 'shadow'>('enforce', 'enforce', 'shadow'),
  targetsAction: fc.boolean(),
});

describe('property: forbid always wins', () => {
  it('any applicable enforce forbid whose condition holds makes the decision deny', () => {
    fc.assert(
      fc.property(
        fc.array(arbPolicy, { maxLength: 12 }),
        fc.nat(),
        fc.constantFrom(...TRUE_CONDITIONS),
        (drafts, position, forbidCondition) => {
          const policies: Policy[] = drafts.map((draft, index) => ({
            id: `p${index}`,
            version: 1,
            effect: draft.effect,
            mode: draft.mode,
            condition: draft.condition,
            target: draft.targetsAction ? { actions: ['order.place'] } : {},
          }));
          const forbid: Policy = {
            id: 'the-forbid',
            version: 1,
            effect: 'forbid',
            mode: 'enforce',
            condition: forbidCondition,
            target: { actions: ['order.*'] },
          };
          policies.splice(position % (policies.length + 1), 0, forbid);
          const result = evaluatePolicies(compiled(policies), context());
          expect(result.decision).toBe('deny');
          expect(result.reason).toBe('FORBID_MATCHED');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('without a matching forbid, the decision is permit exactly when an enforce permit matches', () => {
    fc.assert(
      fc.property(fc.array(arbPolicy, { maxLength: 12 }), (drafts) => {
        const policies: Policy[] = drafts
          .filter((d) => d.effect === 'permit' || d.mode === 'shadow')
          .map((draft, index) => ({
            id: `p${index}`,
            version: 1,
            effect: draft.effect,
            mode: draft.mode,
            condition: draft.condition,
            target: {},
          }));
        const enforced = policies.filter((p) => p.mode === 'enforce');
        const permits = enforced.some((p) => TRUE_CONDITIONS.includes(p.condition));
        const result = evaluatePolicies(compiled(policies), context());
        const expected = enforced.length === 0 ? 'not-applicable' : permits ? 'permit' : 'deny';
        expect(result.decision).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});
