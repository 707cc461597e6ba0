/** Policies, approvals and withdrawal rules at service level, over a real SQLite store. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSqliteControlStore,
  type SqliteControlStore,
} from '../../src/adapters/sqlite/sqlite-control-store.js';
import { isPortcullisError } from '../../src/core/errors.js';
import { createApprovalService } from '../../src/services/approval-service.js';
import { createPolicyService } from '../../src/services/policy-service.js';
import { createWithdrawalService } from '../../src/services/withdrawal-service.js';
import { createManualClock, type ManualClock } from '../helpers/manual-clock.js';

const CTX = { actor: 'adm_test', requestId: 'req_test' };
const codeOf = async (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'ok',
    (error: unknown) => (isPortcullisError(error) ? error.code : 'other'),
  );

describe('governance services', () => {
  let store: SqliteControlStore;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = createManualClock();
    store = createSqliteControlStore({ path: ':memory:', clock });
    store.setAuditSealer((hash) => hash);
    await store.createAccount(
      { id: 'acc_1', name: 'a', createdAt: 0 },
      {
        ts: 0,
        actor: 't',
        action: 'account.create',
        target: 'acc_1',
        requestId: 'r',
        data: {},
      },
    );
  });
  afterEach(async () => {
    await store.close();
  });

  it('refuses a policy that does not compile with POLICY_INVALID and its position, changing nothing', async () => {
    const policies = createPolicyService({ store, clock });
    await policies.create('base', { effect: 'permit', condition: 'true' }, CTX);
    const error = await policies
      .create('bad', { effect: 'forbid', condition: 'key.agedays > 1.0' }, CTX)
      .catch((e: unknown) => e);
    expect(isPortcullisError(error) && error.code).toBe('POLICY_INVALID');
    expect(isPortcullisError(error) && error.details?.[0]).toMatch(/^bad:1:\d+: /);
    expect(policies.list().map((p) => p.id)).toEqual(['base']);
    expect((await store.listPolicies()).map((p) => p.id)).toEqual(['base']);
  });

  it('simulate says which policy decided and explains it', async () => {
    const policies = createPolicyService({ store, clock });
    await policies.create('base', { effect: 'permit', condition: 'true' }, CTX);
    await policies.create(
      'big-orders',
      {
        effect: 'forbid',
        target: { actions: ['order.place'] },
        condition: 'params.notional > 250000.0',
      },
      CTX,
    );
    const result = policies.simulate({ action: 'order.place', params: { notional: 300000 } });
    expect(result.decision).toBe('deny');
    expect(result.decidedBy).toEqual({ policyId: 'big-orders', version: 1 });
    expect(result.explanation.map((e) => e.outcome)).toEqual(['matched', 'matched']);
  });

  it('denies a missing attribute (evaluation error) in simulate', async () => {
    const policies = createPolicyService({ store, clock });
    await policies.create('base', { effect: 'permit', condition: 'params.amount < 10.0' }, CTX);
    expect(policies.simulate({ action: 'withdrawal.create' }).reason).toBe('EVALUATION_ERROR');
  });

  it('reports a shadow policy without enforcing it', async () => {
    const policies = createPolicyService({ store, clock });
    await policies.create('base', { effect: 'permit', condition: 'true' }, CTX);
    await policies.create('try', { effect: 'forbid', condition: 'true', mode: 'shadow' }, CTX);
    const result = policies.simulate({ action: 'order.place' });
    expect(result.decision).toBe('allow');
    expect(result.shadow).toEqual([
      { policyId: 'try', version: 1, outcome: 'matched', wouldBe: 'deny' },
    ]);
  });

  it('answers approval-required for a matching require-approval rule', async () => {
    const policies = createPolicyService({ store, clock });
    await policies.create('base', { effect: 'permit', condition: 'true' }, CTX);
    await policies.create(
      'big-withdrawals',
      {
        effect: 'require-approval',
        quorum: 2,
        target: { actions: ['withdrawal.create'] },
        condition: 'params.amount > 1.0',
      },
      CTX,
    );
    expect(
      policies.simulate({ action: 'withdrawal.create', params: { amount: '2' } }).decision,
    ).toBe('approval-required');
  });

  it('versions every change and audits it', async () => {
    const policies = createPolicyService({ store, clock });
    await policies.create('base', { effect: 'permit', condition: 'true' }, CTX);
    await policies.update('base', { effect: 'permit', condition: 'false' }, CTX);
    await policies.remove('base', CTX);
    expect((await store.policyHistory('base')).map((p) => [p.version, p.active])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    const actions = (await store.listAudit({ limit: 100 })).map((e) => e.action);
    expect(actions).toEqual(['account.create', 'policy.create', 'policy.update', 'policy.delete']);
  });

  it('cools a new address down: not usable before 24 h, usable from then on', async () => {
    const approvals = createApprovalService({ store, clock });
    const withdrawals = createWithdrawalService({ store, clock, approvals });
    await withdrawals.putSettings('acc_1', { addressBookRequired: true }, CTX);
    await withdrawals.addAddress(
      'acc_1',
      { asset: 'BTC', address: 'bc1qexample' },
      { ...CTX, person: 'p' },
    );
    const attempt = (id: string) =>
      withdrawals.reserve({
        accountId: 'acc_1',
        keyId: 'k',
        asset: 'BTC',
        network: '',
        address: 'bc1qexample',
        amount: '0.1',
        requestId: id,
      });
    const early = await attempt('r1');
    expect(early.kind === 'refused' && early.result.reason).toBe('ADDRESS_COOLING_DOWN');
    clock.advance(24 * 3_600_000);
    expect((await attempt('r2')).kind).toBe('reserved');
  });

  it('holds an address for approval, refuses self-approval, adds it on quorum exactly once', async () => {
    const approvals = createApprovalService({ store, clock });
    const withdrawals = createWithdrawalService({ store, clock, approvals });
    await withdrawals.putSettings('acc_1', { addressApprovalQuorum: 2 }, CTX);
    const held = await withdrawals.addAddress(
      'acc_1',
      { asset: 'BTC', address: 'bc1qexample' },
      { ...CTX, person: 'alice' },
    );
    if (!('approvalId' in held)) throw new Error('not held');
    expect(
      await codeOf(approvals.vote(held.approvalId, { person: 'alice', vote: 'approve' }, CTX)),
    ).toBe('APPROVAL_SELF');
    await approvals.vote(held.approvalId, { person: 'bob', vote: 'approve' }, CTX);
    expect(
      await codeOf(approvals.vote(held.approvalId, { person: 'bob', vote: 'approve' }, CTX)),
    ).toBe('APPROVAL_REFUSED');
    const done = await approvals.vote(held.approvalId, { person: 'carol', vote: 'approve' }, CTX);
    expect(done.approval.state).toBe('executed');
    expect(await store.listAddresses('acc_1')).toHaveLength(1);
    expect(
      await codeOf(approvals.vote(held.approvalId, { person: 'dave', vote: 'approve' }, CTX)),
    ).toBe('APPROVAL_REFUSED');
    const actions = (await store.listAudit({ limit: 100 })).map((e) => e.action);
    expect(actions.filter((a) => a.startsWith('approval.'))).toEqual([
      'approval.create',
      'approval.approve',
      'approval.approve',
      'approval.execute',
      'approval.finish',
    ]);
  });

  it('expires a pending round after its ttl', async () => {
    const approvals = createApprovalService({ store, clock });
    const withdrawals = createWithdrawalService({ store, clock, approvals });
    await withdrawals.putSettings('acc_1', { addressApprovalQuorum: 1 }, CTX);
    const held = await withdrawals.addAddress(
      'acc_1',
      { asset: 'BTC', address: 'bc1qexample' },
      { ...CTX, person: 'alice' },
    );
    if (!('approvalId' in held)) throw new Error('not held');
    clock.advance(3_600_000);
    expect((await approvals.get(held.approvalId)).approval.state).toBe('expired');
    expect(
      await codeOf(approvals.vote(held.approvalId, { person: 'bob', vote: 'approve' }, CTX)),
    ).toBe('APPROVAL_REFUSED');
  });

  it('lets concurrent reservations never exceed the rolling hourly limit together', async () => {
    const approvals = createApprovalService({ store, clock });
    const withdrawals = createWithdrawalService({ store, clock, approvals });
    await withdrawals.putSettings(
      'acc_1',
      { addressBookRequired: false, accountLimits: { perHour: '1' } },
      CTX,
    );
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        withdrawals.reserve({
          accountId: 'acc_1',
          keyId: 'k',
          asset: 'BTC',
          network: '',
          address: 'x1234',
          amount: '0.3',
          requestId: `r${i}`,
        }),
      ),
    );
    expect(results.filter((r) => r.kind === 'reserved')).toHaveLength(3);
  });
});
