import { describe, expect, it } from 'vitest';
import { evaluatePolicies, type Policy } from '../../../src/core/policy/index.js';
import { compiled, context, policy } from './policy-fixtures.js';

const permitOrders = policy({ id: 'permit-orders', target: { actions: ['order.*'] } });
const forbidBig = policy({
  id: 'forbid-big',
  effect: 'forbid',
  target: { actions: ['order.place'], environments: ['production'] },
  condition: 'params.notional > 250000.0',
});
const permitSandboxWithdrawals = policy({
  id: 'permit-sandbox-withdrawals',
  target: { actions: ['withdrawal.create'], environments: ['sandbox'] },
});
const conditionalPermit = policy({
  id: 'permit-balance-office',
  target: { actions: ['balance.read'] },
  condition: 'ipInCidr(request.ip, "10.0.0.0/8")',
});
const set = compiled([permitOrders, forbidBig, permitSandboxWithdrawals, conditionalPermit]);

describe('evaluatePolicies: decision matrix', () => {
  const cases: {
    name: string;
    action: string;
    environment: 'sandbox' | 'production';
    notional?: number;
    ip?: string;
    decision: string;
    reason: string;
    decidedBy?: string;
  }[] = [
    {
      name: 'small order in production is permitted',
      action: 'order.place',
      environment: 'production',
      notional: 1000,
      decision: 'permit',
      reason: 'PERMIT_MATCHED',
      decidedBy: 'permit-orders',
    },
    {
      name: 'big order in production: forbid overrides permit',
      action: 'order.place',
      environment: 'production',
      notional: 300000,
      decision: 'deny',
      reason: 'FORBID_MATCHED',
      decidedBy: 'forbid-big',
    },
    {
      name: 'big order in sandbox: the forbid targets production only',
      action: 'order.place',
      environment: 'sandbox',
      notional: 300000,
      decision: 'permit',
      reason: 'PERMIT_MATCHED',
      decidedBy: 'permit-orders',
    },
    {
      name: 'cancel is covered by the order.* family',
      action: 'order.cancel',
      environment: 'production',
      decision: 'permit',
      reason: 'PERMIT_MATCHED',
      decidedBy: 'permit-orders',
    },
    {
      name: 'withdrawal in sandbox is permitted',
      action: 'withdrawal.create',
      environment: 'sandbox',
      decision: 'permit',
      reason: 'PERMIT_MATCHED',
      decidedBy: 'permit-sandbox-withdrawals',
    },
    {
      name: 'withdrawal in production: no policy attached',
      action: 'withdrawal.create',
      environment: 'production',
      decision: 'not-applicable',
      reason: 'NO_POLICY_APPLIES',
    },
    {
      name: 'balance read from the office network is permitted',
      action: 'balance.read',
      environment: 'production',
      ip: '10.1.2.3',
      decision: 'permit',
      reason: 'PERMIT_MATCHED',
      decidedBy: 'permit-balance-office',
    },
    {
      name: 'balance read from elsewhere: default deny',
      action: 'balance.read',
      environment: 'production',
      ip: '198.51.100.1',
      decision: 'deny',
      reason: 'NO_PERMIT',
    },
    {
      name: 'an action no policy targets is not applicable',
      action: 'account.read',
      environment: 'production',
      decision: 'not-applicable',
      reason: 'NO_POLICY_APPLIES',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = evaluatePolicies(
        set,
        context({
          action: c.action,
          params: { notional: c.notional ?? 1 },
          request: { environment: c.environment, ...(c.ip ? { ip: c.ip } : {}) },
        }),
      );
      expect(result.decision).toBe(c.decision);
      expect(result.reason).toBe(c.reason);
      expect(result.decidedBy?.policyId).toBe(c.decidedBy);
    });
  }
});

describe('evaluatePolicies: targets', () => {
  const scoped: Policy[] = [
    policy({ id: 'acc-2-only', target: { accounts: ['acc_2'] } }),
    policy({ id: 'key-x-forbid', effect: 'forbid', target: { keys: ['pk_live_x'] } }),
  ];
  const scopedSet = compiled(scoped);

  it('a policy for another account does not attach', () => {
    expect(evaluatePolicies(scopedSet, context({ accountId: 'acc_1' })).decision).toBe(
      'not-applicable',
    );
  });

  it('a policy for the account attaches and permits', () => {
    expect(evaluatePolicies(scopedSet, context({ accountId: 'acc_2' })).reason).toBe(
      'PERMIT_MATCHED',
    );
  });

  it('a forbid targeting the key denies it', () => {
    const result = evaluatePolicies(
      scopedSet,
      context({ accountId: 'acc_2', key: { id: 'pk_live_x' } }),
    );
    expect(result.reason).toBe('FORBID_MATCHED');
  });

  it('records the version of the deciding policy', () => {
    const versioned = compiled([policy({ id: 'p', version: 7 })]);
    expect(evaluatePolicies(versioned, context()).decidedBy).toEqual({ policyId: 'p', version: 7 });
  });
});

describe('evaluatePolicies: errors fail closed', () => {
  it('a permit whose parameter is absent denies', () => {
    const errSet = compiled([policy({ id: 'p', condition: 'params.amount < 10.0' })]);
    const result = evaluatePolicies(errSet, context({ params: {} }));
    expect(result.decision).toBe('deny');
    expect(result.reason).toBe('EVALUATION_ERROR');
    expect(result.decidedBy?.policyId).toBe('p');
  });

  it('an erroring forbid denies even when a permit matches', () => {
    const errSet = compiled([
      policy({ id: 'permit-all' }),
      policy({ id: 'forbid-amount', effect: 'forbid', condition: 'params.amount > 10.0' }),
    ]);
    const result = evaluatePolicies(errSet, context({ params: {} }));
    expect(result.reason).toBe('EVALUATION_ERROR');
    expect(result.decidedBy?.policyId).toBe('forbid-amount');
  });

  it('a missing map entry is an error, not false', () => {
    const errSet = compiled([
      policy({ id: 'p' }),
      policy({ id: 'f', effect: 'forbid', condition: 'key.labels["tier"] == "untrusted"' }),
    ]);
    expect(evaluatePolicies(errSet, context()).reason).toBe('EVALUATION_ERROR');
  });

  it('a runtime CIDR that does not parse denies', () => {
    const errSet = compiled([policy({ id: 'p', condition: 'ipInCidr(request.ip, key.label)' })]);
    expect(evaluatePolicies(errSet, context()).reason).toBe('EVALUATION_ERROR');
  });

  it('division by zero denies', () => {
    const errSet = compiled([policy({ id: 'p', condition: '1 / (time.hourUtc - 14) == 1' })]);
    expect(evaluatePolicies(errSet, context()).reason).toBe('EVALUATION_ERROR');
  });

  it('`in` guards an optional label', () => {
    const guarded = compiled([
      policy({ id: 'p' }),
      policy({
        id: 'f',
        effect: 'forbid',
        condition: '"tier" in key.labels && key.labels["tier"] == "untrusted"',
      }),
    ]);
    expect(evaluatePolicies(guarded, context()).decision).toBe('permit');
  });

  it('has() guards an optional parameter', () => {
    const guarded = compiled([
      policy({ id: 'p' }),
      policy({
        id: 'f',
        effect: 'forbid',
        condition: 'has(params.amount) && params.amount > 10.0',
      }),
    ]);
    expect(evaluatePolicies(guarded, context({ params: {} })).decision).toBe('permit');
  });

  it('the explanation carries the CEL error code', () => {
    const errSet = compiled([policy({ id: 'p', condition: 'params.amount < 10.0' })]);
    const [entry] = evaluatePolicies(errSet, context({ params: {} })).explanation;
    expect(entry?.outcome).toBe('error');
    expect(entry?.error?.code).toBe('no_such_key');
  });
});

describe('evaluatePolicies: shadow mode', () => {
  const shadowForbid = policy({
    id: 'shadow-forbid',
    effect: 'forbid',
    mode: 'shadow',
    condition: 'params.notional > 500.0',
  });

  it('a matching shadow forbid does not change the decision', () => {
    const shadowSet = compiled([policy({ id: 'permit-all' }), shadowForbid]);
    expect(evaluatePolicies(shadowSet, context()).decision).toBe('permit');
  });

  it('reports what the shadow forbid would decide', () => {
    const shadowSet = compiled([policy({ id: 'permit-all' }), shadowForbid]);
    expect(evaluatePolicies(shadowSet, context()).shadow).toEqual([
      { policyId: 'shadow-forbid', version: 1, outcome: 'matched', wouldBe: 'deny' },
    ]);
  });

  it('shadow policies alone do not attach a set', () => {
    const shadowSet = compiled([shadowForbid]);
    const result = evaluatePolicies(shadowSet, context());
    expect(result.decision).toBe('not-applicable');
    expect(result.shadow[0]?.wouldBe).toBe('deny');
  });

  it('a shadow permit reports it would permit where nothing else applies', () => {
    const shadowSet = compiled([policy({ id: 'sp', mode: 'shadow' })]);
    expect(evaluatePolicies(shadowSet, context()).shadow[0]?.wouldBe).toBe('permit');
  });

  it('an erroring shadow policy is reported as a would-be deny, not enforced', () => {
    const shadowSet = compiled([
      policy({ id: 'permit-all' }),
      policy({ id: 'sp', mode: 'shadow', condition: 'params.amount > 1.0' }),
    ]);
    const result = evaluatePolicies(shadowSet, context({ params: {} }));
    expect(result.decision).toBe('permit');
    expect(result.shadow[0]).toMatchObject({ outcome: 'error', wouldBe: 'deny' });
  });
});

describe('evaluatePolicies: explanation', () => {
  it('lists every applicable policy in set order with its outcome', () => {
    const result = evaluatePolicies(
      set,
      context({ action: 'order.place', params: { notional: 300000 } }),
    );
    expect(result.explanation.map((e) => [e.policyId, e.effect, e.outcome])).toEqual([
      ['permit-orders', 'permit', 'matched'],
      ['forbid-big', 'forbid', 'matched'],
    ]);
  });

  it('leaves out policies whose target does not match', () => {
    const result = evaluatePolicies(set, context({ action: 'withdrawal.create' }));
    expect(result.explanation).toEqual([]);
  });
});
