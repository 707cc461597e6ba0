import { describe, expect, it } from 'vitest';
import { compilePolicySet, type Policy } from '../../../src/core/policy/index.js';
import { policy } from './policy-fixtures.js';

function errorsOf(policies: readonly Policy[]) {
  const result = compilePolicySet(policies);
  if (result.ok) throw new Error('expected the set to be refused');
  return result.errors;
}

describe('compilePolicySet: CEL errors with positions', () => {
  it('reports a syntax error at its line and column', () => {
    const [error] = errorsOf([policy({ id: 'p', condition: 'key.ageDays >\n  && true' })]);
    expect(error).toMatchObject({ policyId: 'p', code: 'unexpected_token', line: 2, column: 3 });
  });

  it('reports an unknown field at its position', () => {
    const [error] = errorsOf([policy({ id: 'p', condition: 'key.agedays > 90.0' })]);
    expect(error).toMatchObject({ code: 'no_such_key', line: 1, column: 5 });
  });

  it('reports an unknown variable', () => {
    const [error] = errorsOf([policy({ id: 'p', condition: 'user.id == "x"' })]);
    expect(error).toMatchObject({ code: 'unknown_variable', line: 1, column: 1 });
  });

  it('reports a type error (string compared with a number)', () => {
    const [error] = errorsOf([policy({ id: 'p', condition: 'key.id == 1' })]);
    expect(error?.code).toBe('no_such_overload');
  });

  it('refuses double + int arithmetic (CEL is strictly typed)', () => {
    const [error] = errorsOf([policy({ id: 'p', condition: 'params.notional + 1 > 2.0' })]);
    expect(error?.code).toBe('no_such_overload');
  });

  it('refuses a condition that is not a bool', () => {
    const [error] = errorsOf([policy({ id: 'p', condition: 'key.ageDays' })]);
    expect(error?.code).toBe('not_bool');
  });

  it('refuses a literal CIDR that does not parse, at its position', () => {
    const [error] = errorsOf([
      policy({ id: 'p', condition: 'ipInCidr(request.ip, "10.0.0.1/8")' }),
    ]);
    expect(error).toMatchObject({ code: 'invalid_cidr', line: 1, column: 22 });
  });

  it('refuses a bad CIDR inside a literal list', () => {
    const [error] = errorsOf([
      policy({ id: 'p', condition: 'ipInAnyCidr(request.ip, ["10.0.0.0/8", "nope"])' }),
    ]);
    expect(error?.code).toBe('invalid_cidr');
  });

  it('refuses a condition above the AST node bound', () => {
    const [error] = errorsOf([policy({ id: 'p', condition: `true${' && true'.repeat(500)}` })]);
    expect(error?.code).toBe('limit_exceeded');
  });

  it('refuses an unknown function', () => {
    const [error] = errorsOf([policy({ id: 'p', condition: 'isOffice(request.ip)' })]);
    expect(error?.code).toBeDefined();
    expect(error?.policyId).toBe('p');
  });
});

describe('compilePolicySet: all or nothing', () => {
  it('one bad policy rejects the whole set', () => {
    const result = compilePolicySet([
      policy({ id: 'good' }),
      policy({ id: 'bad', condition: '(' }),
    ]);
    expect(result.ok).toBe(false);
  });

  it('reports every bad policy at once', () => {
    const errors = errorsOf([
      policy({ id: 'a', condition: '(' }),
      policy({ id: 'b', condition: 'nope' }),
    ]);
    expect(errors.map((e) => e.policyId)).toEqual(['a', 'b']);
  });

  it('accepts an empty set', () => {
    expect(compilePolicySet([]).ok).toBe(true);
  });
});

describe('compilePolicySet: shape', () => {
  const cases: { name: string; policy: Policy; code: string }[] = [
    {
      name: 'duplicate id',
      policy: policy({ id: 'dup' }),
      code: 'duplicate_id',
    },
    { name: 'bad id', policy: policy({ id: 'has space' }), code: 'invalid_id' },
    { name: 'version 0', policy: policy({ id: 'v', version: 0 }), code: 'invalid_version' },
    {
      name: 'unknown effect',
      policy: policy({ id: 'e', effect: 'allow' as 'permit' }),
      code: 'invalid_effect',
    },
    {
      name: 'unknown mode',
      policy: policy({ id: 'm', mode: 'audit' as 'shadow' }),
      code: 'invalid_mode',
    },
    {
      name: 'empty condition',
      policy: policy({ id: 'c', condition: ' ' }),
      code: 'invalid_condition',
    },
    {
      name: 'unknown environment',
      policy: policy({ id: 'env', target: { environments: ['staging' as 'sandbox'] } }),
      code: 'invalid_environment',
    },
    {
      name: 'malformed action pattern',
      policy: policy({ id: 'act', target: { actions: ['order*'] } }),
      code: 'invalid_action',
    },
    {
      name: 'condition too long',
      policy: policy({ id: 'long', condition: `true${' && true'.repeat(600)}` }),
      code: 'condition_too_long',
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      const policies = c.code === 'duplicate_id' ? [policy({ id: 'dup' }), c.policy] : [c.policy];
      expect(errorsOf(policies).map((e) => e.code)).toContain(c.code);
    });
  }
});

describe('compilePolicySet: the three example rules compile', () => {
  const examples: Policy[] = [
    policy({
      id: 'big-orders-office-only',
      effect: 'forbid',
      target: { actions: ['order.place'] },
      condition:
        'params.symbol.endsWith("USDT") && params.notional > 250000.0 && !ipInCidr(request.ip, "10.20.0.0/16")',
    }),
    policy({
      id: 'no-night-withdrawals',
      effect: 'forbid',
      target: { actions: ['withdrawal.*'] },
      condition: 'time.hourUtc < 6',
    }),
    policy({
      id: 'old-keys-read-only',
      effect: 'forbid',
      condition: 'key.ageDays > 90.0 && !action.name.endsWith(".read")',
    }),
  ];
  it('compiles', () => {
    expect(compilePolicySet(examples).ok).toBe(true);
  });
});
