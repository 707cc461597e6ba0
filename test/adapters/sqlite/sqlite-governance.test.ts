/** The SQLite governance ports: versioned policies, approval compare-and-set, reservations. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSqliteControlStore,
  type SqliteControlStore,
} from '../../../src/adapters/sqlite/sqlite-control-store.js';
import { createApproval, decide } from '../../../src/core/approvals/approval.js';
import type { AuditDraft } from '../../../src/core/audit/audit-chain.js';
import type { PolicyRecord } from '../../../src/ports.js';
import { createManualClock } from '../../helpers/manual-clock.js';

const audit = (action: string, target = 't'): AuditDraft => ({
  ts: 0,
  actor: 'test',
  action,
  target,
  requestId: 'req_t',
  data: {},
});

const policy = (version: number, active = true): PolicyRecord => ({
  id: 'p1',
  version,
  effect: 'permit',
  target: { actions: ['order.place'] },
  condition: 'true',
  mode: 'enforce',
  description: '',
  quorum: null,
  active,
  createdAt: 1,
  updatedAt: version,
  updatedBy: 'test',
});

describe('SQLite governance store', () => {
  let store: SqliteControlStore;
  beforeEach(async () => {
    store = createSqliteControlStore({ path: ':memory:', clock: createManualClock() });
    store.setAuditSealer((hash) => hash);
    await store.createAccount({ id: 'acc_1', name: 'a', createdAt: 0 }, audit('account.create'));
  });
  afterEach(async () => {
    await store.close();
  });

  it('keeps every policy version and lists only the latest active one', async () => {
    expect(await store.writePolicy(policy(1), 0, audit('policy.create'))).toBe(true);
    expect(await store.writePolicy(policy(2), 1, audit('policy.update'))).toBe(true);
    expect((await store.listPolicies()).map((p) => p.version)).toEqual([2]);
    expect((await store.policyHistory('p1')).map((p) => p.version)).toEqual([1, 2]);
  });

  it('refuses a policy write whose expected version moved, writing no audit entry', async () => {
    await store.writePolicy(policy(1), 0, audit('policy.create'));
    const before = (await store.listAudit({ limit: 100 })).length;
    expect(await store.writePolicy(policy(2), 0, audit('policy.update'))).toBe(false);
    expect((await store.listAudit({ limit: 100 })).length).toBe(before);
  });

  it('hides a deleted policy from the current set', async () => {
    await store.writePolicy(policy(1), 0, audit('policy.create'));
    await store.writePolicy(policy(2, false), 1, audit('policy.delete'));
    expect(await store.listPolicies()).toEqual([]);
    expect((await store.getPolicy('p1'))?.active).toBe(false);
  });

  it('applies exactly one of two racing approval transitions', async () => {
    const created = createApproval(
      { id: 'apr_1', kind: 'request', requestDigest: 'a'.repeat(64), initiator: 'k', quorum: 1 },
      0,
    );
    if (!created.ok) throw new Error(created.reason);
    await store.createApproval(
      { approval: created.approval, subject: {}, result: null },
      audit('approval.create'),
    );
    const one = decide(created.approval, {
      approver: 'a',
      vote: 'approve',
      digest: 'a'.repeat(64),
      now: 1,
    });
    const two = decide(created.approval, {
      approver: 'b',
      vote: 'approve',
      digest: 'a'.repeat(64),
      now: 1,
    });
    if (!one.ok || !two.ok) throw new Error('decide failed');
    expect(
      await store.transitionApproval(one.approval, one.transition, audit('approval.vote')),
    ).toBe(true);
    expect(
      await store.transitionApproval(two.approval, two.transition, audit('approval.vote')),
    ).toBe(false);
    expect((await store.getApproval('apr_1'))?.approval.votes.map((v) => v.approver)).toEqual([
      'a',
    ]);
  });

  it('reserves against the latest ledger: a second reservation over the hourly limit is refused', async () => {
    const request = (id: string) => ({
      reservationId: id,
      accountId: 'acc_1',
      keyId: 'k1',
      asset: 'BTC',
      network: '',
      address: 'addr1',
      amount: '0.6',
    });
    const rules = { addressBookRequired: false, account: { perHour: '1' } };
    expect(
      (await store.reserveWithdrawal(request('r1'), rules, 1000, audit('withdrawal.reserve'))).ok,
    ).toBe(true);
    const second = await store.reserveWithdrawal(
      request('r2'),
      rules,
      1001,
      audit('withdrawal.reserve'),
    );
    expect(second.ok ? 'ok' : second.reason).toBe('AMOUNT_LIMIT_EXCEEDED');
  });

  it('gives a released reservation back to the window', async () => {
    const request = (id: string) => ({
      reservationId: id,
      accountId: 'acc_1',
      keyId: 'k1',
      asset: 'BTC',
      network: '',
      address: 'addr1',
      amount: '0.6',
    });
    const rules = { addressBookRequired: false, account: { perHour: '1' } };
    await store.reserveWithdrawal(request('r1'), rules, 1000, audit('withdrawal.reserve'));
    expect(
      await store.settleReservation('acc_1', 'r1', 'release', 1001, audit('withdrawal.release')),
    ).toBe(true);
    expect(
      (await store.reserveWithdrawal(request('r2'), rules, 1002, audit('withdrawal.reserve'))).ok,
    ).toBe(true);
  });
});
