/**
 * The behaviour every governance store (policies, approvals, withdrawal rules) must have. Each
 * adapter's test file calls `describeGovernanceStoreContract` with a factory that builds a fresh,
 * empty store per test; `openPeer`, when given, opens a second store instance on the same data
 * (another node), for the races that must hold across nodes.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApproval, decide, type Approval } from '../../src/core/approvals/approval.js';
import { createAuditVerifier, type AuditDraft } from '../../src/core/audit/audit-chain.js';
import type { WithdrawalRequest } from '../../src/core/transactions/withdrawal-ledger.js';
import { describeAllowanceStoreContract } from './allowance-store.contract.js';
import type {
  ApprovalRecord,
  ControlStore,
  GovernanceStore,
  PolicyRecord,
  ReserveInput,
  WithdrawalSettings,
} from '../../src/ports.js';

export type GovernanceControlStore = ControlStore & GovernanceStore;

export interface GovernanceStoreHarness {
  readonly store: GovernanceControlStore;
  /** Another instance on the same data; closed by `close`. */
  readonly openPeer?: () => Promise<GovernanceControlStore>;
  close(): Promise<void>;
}

const AUDIT_KEY = randomBytes(32);
const sealer = (hash: string) => createHmac('sha256', AUDIT_KEY).update(hash).digest('hex');
const T0 = 1_767_225_600_000;
const DIGEST = 'a'.repeat(64);

const audit = (action: string, target = 't'): AuditDraft => ({
  ts: T0,
  actor: 'adm_contract',
  action,
  target,
  requestId: `req_${action}`,
  data: {},
});

const policy = (version: number, overrides: Partial<PolicyRecord> = {}): PolicyRecord => ({
  id: 'pol_1',
  version,
  effect: 'permit',
  target: { actions: ['order.place'] },
  condition: 'true',
  mode: 'enforce',
  description: '',
  quorum: null,
  active: true,
  createdAt: T0,
  updatedAt: T0 + version,
  updatedBy: 'adm_contract',
  ...overrides,
});

function pendingApproval(id: string, createdAt = T0, quorum = 2): Approval {
  const created = createApproval(
    { id, kind: 'withdrawal', requestDigest: DIGEST, initiator: 'pk_test_k', quorum },
    createdAt,
  );
  if (!created.ok) throw new Error(created.reason);
  return created.approval;
}

function vote(approval: Approval, approver: string, now = T0 + 1) {
  const voted = decide(approval, { approver, vote: 'approve', digest: DIGEST, now });
  if (!voted.ok) throw new Error(voted.reason);
  return voted;
}

const withdrawal = (id: string, amount = '0.6', address = 'addr1'): WithdrawalRequest => ({
  reservationId: id,
  accountId: 'acc_1',
  keyId: 'pk_test_k',
  asset: 'BTC',
  network: '',
  address,
  amount,
});

const hourly = (limit: string): ReserveInput => ({
  addressBookRequired: false,
  account: { perHour: limit },
});

export function describeGovernanceStoreContract(
  name: string,
  createHarness: () => Promise<GovernanceStoreHarness>,
): void {
  describe(`GovernanceStore contract: ${name}`, () => {
    let harness: GovernanceStoreHarness;
    let store: GovernanceControlStore;
    beforeEach(async () => {
      harness = await createHarness();
      store = harness.store;
      store.setAuditSealer(sealer);
      await store.createAccount({ id: 'acc_1', name: 'a', createdAt: T0 }, audit('account.create'));
    });
    afterEach(async () => {
      await harness.close();
    });

    const auditActions = async () =>
      (await store.listAudit({ limit: 10_000 })).map((entry) => entry.action);
    async function peer(): Promise<GovernanceControlStore> {
      const open = harness.openPeer;
      if (!open) return store;
      const other = await open();
      other.setAuditSealer(sealer);
      return other;
    }

    describe('policies', () => {
      it('keeps every version and lists only the latest active one', async () => {
        expect(await store.writePolicy(policy(1), 0, audit('policy.create'))).toBe(true);
        expect(await store.writePolicy(policy(2), 1, audit('policy.update'))).toBe(true);
        expect((await store.listPolicies()).map((p) => p.version)).toEqual([2]);
        expect((await store.policyHistory('pol_1')).map((p) => p.version)).toEqual([1, 2]);
      });

      it('reads back a version field for field', async () => {
        const record = policy(1, {
          effect: 'require-approval',
          target: { actions: ['withdraw.create'], environments: ['production'] },
          condition: 'params.amount > 10',
          mode: 'shadow',
          description: 'big withdrawals — "quoted"',
          quorum: 2,
        });
        await store.writePolicy(record, 0, audit('policy.create'));
        expect(await store.getPolicy('pol_1')).toEqual(record);
      });

      it('refuses a write whose expected version moved, writing no audit entry', async () => {
        await store.writePolicy(policy(1), 0, audit('policy.create'));
        const before = await auditActions();
        expect(await store.writePolicy(policy(2), 0, audit('policy.update'))).toBe(false);
        expect(await auditActions()).toEqual(before);
      });

      it('refuses to create an id that exists', async () => {
        await store.writePolicy(policy(1), 0, audit('policy.create'));
        expect(await store.writePolicy(policy(1), 0, audit('policy.create'))).toBe(false);
      });

      it('hides a deleted policy from the current set but keeps its tombstone', async () => {
        await store.writePolicy(policy(1), 0, audit('policy.create'));
        await store.writePolicy(policy(2, { active: false }), 1, audit('policy.delete'));
        expect(await store.listPolicies()).toEqual([]);
        expect((await store.getPolicy('pol_1'))?.active).toBe(false);
      });

      it('lists current policies in creation order', async () => {
        await store.writePolicy(policy(1, { id: 'pol_b', createdAt: T0 }), 0, audit('p'));
        await store.writePolicy(policy(1, { id: 'pol_a', createdAt: T0 + 5 }), 0, audit('p'));
        await store.writePolicy(policy(2, { id: 'pol_b', createdAt: T0 }), 1, audit('p'));
        expect((await store.listPolicies()).map((p) => [p.id, p.version])).toEqual([
          ['pol_b', 2],
          ['pol_a', 1],
        ]);
      });

      it('answers undefined and an empty history for an unknown id', async () => {
        expect(await store.getPolicy('pol_none')).toBeUndefined();
        expect(await store.policyHistory('pol_none')).toEqual([]);
      });

      it('lets exactly one of several concurrent writers from one version win', async () => {
        await store.writePolicy(policy(1), 0, audit('policy.create'));
        const other = await peer();
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            (i % 2 ? other : store).writePolicy(
              policy(2, { description: `w${i}` }),
              1,
              audit('policy.update'),
            ),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await auditActions()).filter((a) => a === 'policy.update')).toHaveLength(1);
      });
    });

    describe('approvals', () => {
      it('reads back an approval with its subject, exactly', async () => {
        const approval = pendingApproval('apr_1');
        const subject = { method: 'POST', body: '{"amount":"1.50","z":1,"a":2}', n: 3 };
        await store.createApproval({ approval, subject, result: null }, audit('approval.create'));
        expect(await store.getApproval('apr_1')).toEqual({ approval, subject, result: null });
        expect(await store.getApproval('apr_none')).toBeUndefined();
      });

      it('applies exactly one of two racing transitions', async () => {
        const approval = pendingApproval('apr_1', T0, 1);
        await store.createApproval({ approval, subject: {}, result: null }, audit('approval.c'));
        const one = vote(approval, 'alice');
        const two = vote(approval, 'bob');
        expect(
          await store.transitionApproval(one.approval, one.transition, audit('approval.vote')),
        ).toBe(true);
        expect(
          await store.transitionApproval(two.approval, two.transition, audit('approval.vote')),
        ).toBe(false);
        expect((await store.getApproval('apr_1'))?.approval.votes.map((v) => v.approver)).toEqual([
          'alice',
        ]);
        expect((await auditActions()).filter((a) => a === 'approval.vote')).toHaveLength(1);
      });

      it('lets exactly one of many concurrent voters from two instances land', async () => {
        const approval = pendingApproval('apr_1');
        await store.createApproval({ approval, subject: {}, result: null }, audit('approval.c'));
        const other = await peer();
        const results = await Promise.all(
          ['a', 'b', 'c', 'd', 'e', 'f'].map((approver, i) => {
            const voted = vote(approval, approver);
            return (i % 2 ? other : store).transitionApproval(
              voted.approval,
              voted.transition,
              audit('approval.vote'),
            );
          }),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await store.getApproval('apr_1'))?.approval.version).toBe(2);
      });

      it('keeps the stored result once set', async () => {
        const approval = pendingApproval('apr_1', T0, 1);
        await store.createApproval({ approval, subject: {}, result: null }, audit('approval.c'));
        const voted = vote(approval, 'alice');
        const result = { status: 200, body: 'ok' };
        await store.transitionApproval(voted.approval, voted.transition, audit('v'), result);
        expect((await store.getApproval('apr_1'))?.result).toEqual(result);
      });

      it('lists newest first, optionally by state', async () => {
        const older = pendingApproval('apr_old', T0);
        const newer = pendingApproval('apr_new', T0 + 10, 1);
        for (const approval of [older, newer]) {
          await store.createApproval({ approval, subject: {}, result: null }, audit('c'));
        }
        const voted = vote(newer, 'alice', T0 + 11);
        await store.transitionApproval(voted.approval, voted.transition, audit('v'));
        const ids = (records: ApprovalRecord[]) => records.map((r) => r.approval.id);
        expect(ids(await store.listApprovals({ limit: 10 }))).toEqual(['apr_new', 'apr_old']);
        expect(ids(await store.listApprovals({ state: 'pending', limit: 10 }))).toEqual([
          'apr_old',
        ]);
        expect(ids(await store.listApprovals({ limit: 1 }))).toEqual(['apr_new']);
      });
    });

    describe('withdrawal rules', () => {
      const settings = (perDay: string): WithdrawalSettings => ({
        accountId: 'acc_1',
        addressBookRequired: true,
        coolDownMs: 60_000,
        accountLimits: { perDay },
        keyLimits: { perTransaction: '1' },
        addressApprovalQuorum: 0,
        updatedAt: T0,
      });

      it('stores and replaces an account’s settings', async () => {
        expect(await store.getWithdrawalSettings('acc_1')).toBeUndefined();
        await store.putWithdrawalSettings(settings('5'), audit('withdrawal.settings'));
        await store.putWithdrawalSettings(settings('7'), audit('withdrawal.settings'));
        expect(await store.getWithdrawalSettings('acc_1')).toEqual(settings('7'));
      });

      it('lists the address book in the order entries were added', async () => {
        const entry = (id: string, addedAt: number) => ({
          id,
          accountId: 'acc_1',
          asset: 'BTC',
          network: 'BTC',
          address: `bc1${id}`,
          addedAt,
          usableFrom: addedAt + 60_000,
        });
        await store.addAddress(entry('adr_2', T0 + 1), audit('address.add'));
        await store.addAddress({ ...entry('adr_1', T0), memo: 'm' }, audit('address.add'));
        expect(await store.listAddresses('acc_1')).toEqual([
          { ...entry('adr_1', T0), memo: 'm' },
          entry('adr_2', T0 + 1),
        ]);
      });

      it('checks the destination against the stored address book inside the reservation', async () => {
        await store.addAddress(
          {
            id: 'adr_1',
            accountId: 'acc_1',
            asset: 'BTC',
            network: '',
            address: 'addr1',
            addedAt: T0,
            usableFrom: T0 + 60_000,
          },
          audit('address.add'),
        );
        const rules: ReserveInput = { addressBookRequired: true };
        const cooling = await store.reserveWithdrawal(withdrawal('r1'), rules, T0 + 1, audit('w'));
        expect(cooling.ok ? 'ok' : cooling.reason).toBe('ADDRESS_COOLING_DOWN');
        const unknown = await store.reserveWithdrawal(
          withdrawal('r2', '0.1', 'addr9'),
          rules,
          T0 + 60_000,
          audit('w'),
        );
        expect(unknown.ok ? 'ok' : unknown.reason).toBe('ADDRESS_NOT_ALLOWED');
        const usable = await store.reserveWithdrawal(
          withdrawal('r3'),
          rules,
          T0 + 60_000,
          audit('w'),
        );
        expect(usable.ok).toBe(true);
      });

      it('refuses a second reservation over the hourly limit, writing no audit entry for it', async () => {
        const first = await store.reserveWithdrawal(
          withdrawal('r1'),
          hourly('1'),
          T0,
          audit('withdrawal.reserve'),
        );
        expect(first.ok).toBe(true);
        const second = await store.reserveWithdrawal(
          withdrawal('r2'),
          hourly('1'),
          T0 + 1,
          audit('withdrawal.reserve'),
        );
        expect(second.ok ? 'ok' : second.reason).toBe('AMOUNT_LIMIT_EXCEEDED');
        expect((await auditActions()).filter((a) => a === 'withdrawal.reserve')).toHaveLength(1);
      });

      it('records the reserved amount in the audit entry', async () => {
        await store.reserveWithdrawal(withdrawal('r1', '0.50'), hourly('1'), T0, audit('w.r'));
        const [entry] = await store.listAudit({ action: 'w.r', limit: 1 });
        expect(entry?.data).toMatchObject({ amount: '0.5' });
      });

      it('gives a released reservation back to the window', async () => {
        await store.reserveWithdrawal(withdrawal('r1'), hourly('1'), T0, audit('w.r'));
        expect(await store.settleReservation('acc_1', 'r1', 'release', T0 + 1, audit('w.x'))).toBe(
          true,
        );
        expect(
          (await store.reserveWithdrawal(withdrawal('r2'), hourly('1'), T0 + 2, audit('w.r'))).ok,
        ).toBe(true);
      });

      it('keeps a committed reservation counted, and cannot settle it twice', async () => {
        await store.reserveWithdrawal(withdrawal('r1'), hourly('1'), T0, audit('w.r'));
        expect(await store.settleReservation('acc_1', 'r1', 'commit', T0 + 1, audit('w.c'))).toBe(
          true,
        );
        expect(await store.settleReservation('acc_1', 'r1', 'release', T0 + 2, audit('w.x'))).toBe(
          false,
        );
        const again = await store.reserveWithdrawal(
          withdrawal('r2'),
          hourly('1'),
          T0 + 3,
          audit('w.r'),
        );
        expect(again.ok ? 'ok' : again.reason).toBe('AMOUNT_LIMIT_EXCEEDED');
      });

      it('answers false for an unknown reservation', async () => {
        expect(await store.settleReservation('acc_1', 'r_none', 'commit', T0, audit('w.c'))).toBe(
          false,
        );
      });

      it('lets concurrent reservations from two instances pass a limit only up to it', async () => {
        const other = await peer();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 ? other : store).reserveWithdrawal(
              withdrawal(`r${i}`, '0.3'),
              hourly('1'),
              T0 + i,
              audit('withdrawal.reserve'),
            ),
          ),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(3);
        for (const refused of results.filter((r) => !r.ok)) {
          expect(refused.ok ? 'ok' : refused.reason).toBe('AMOUNT_LIMIT_EXCEEDED');
        }
      });
    });

    describeAllowanceStoreContract(() => store, peer);

    it('links every governance change into one chain that verifies', async () => {
      const other = await peer();
      const approval = pendingApproval('apr_1');
      await Promise.all([
        store.writePolicy(policy(1), 0, audit('policy.create')),
        other.writePolicy(policy(1, { id: 'pol_2' }), 0, audit('policy.create')),
        store.createApproval({ approval, subject: {}, result: null }, audit('approval.create')),
        other.reserveWithdrawal(withdrawal('r1'), hourly('5'), T0, audit('withdrawal.reserve')),
        store.reserveWithdrawal(withdrawal('r2'), hourly('5'), T0, audit('withdrawal.reserve')),
        other.appendAudit(audit('x.other')),
      ]);
      const verifier = createAuditVerifier(sealer);
      await store.scanAudit((batch) => {
        for (const entry of batch) verifier.push(entry);
      });
      expect(verifier.result()).toMatchObject({ ok: true, entries: 7, headSeq: 7 });
    });
  });
}
