import { describe, expect, it } from 'vitest';
import {
  DEFAULT_APPROVAL_TTL_MS,
  DEFAULT_EXECUTION_WINDOW_MS,
  beginExecution,
  createApproval,
  decide,
  expireApproval,
  finishExecution,
  requestDigest,
  transitionApplies,
  type Approval,
  type ApprovalTransition,
} from '../../../src/core/approvals/index.js';

const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const DIGEST = requestDigest({
  method: 'POST',
  path: '/v1/withdrawals',
  query: '',
  body: Buffer.from('{"asset":"USDT","amount":"50000","address":"TXYZ"}'),
  keyId: 'pk_live_1',
  accountId: 'acc_1',
  action: 'withdrawal.create',
  params: { asset: 'USDT', amount: 50000, address: 'TXYZ' },
});
const OTHER_DIGEST = 'f'.repeat(64);

function held(overrides: { quorum?: number; approverPool?: string[] } = {}): Approval {
  const result = createApproval(
    {
      id: 'apr_1',
      kind: 'withdrawal',
      requestDigest: DIGEST,
      initiator: 'alice',
      quorum: overrides.quorum ?? 2,
      ...(overrides.approverPool ? { approverPool: overrides.approverPool } : {}),
    },
    T0,
  );
  if (!result.ok) throw new Error(result.reason);
  return result.approval;
}

function vote(
  approval: Approval,
  approver: string,
  v: 'approve' | 'reject' = 'approve',
  now = T0 + 1000,
) {
  return decide(approval, { approver, vote: v, digest: DIGEST, now });
}

function must<T extends { ok: boolean }>(result: T): Extract<T, { ok: true }> {
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result)}`);
  return result as Extract<T, { ok: true }>;
}

describe('createApproval', () => {
  it('opens a pending round that expires after one hour by default', () => {
    const approval = held();
    expect(approval.state).toBe('pending');
    expect(approval.expiresAt).toBe(T0 + DEFAULT_APPROVAL_TTL_MS);
  });

  const refusals: { name: string; input: Record<string, unknown>; reason: string }[] = [
    { name: 'quorum 0', input: { quorum: 0 }, reason: 'QUORUM_INVALID' },
    { name: 'fractional quorum', input: { quorum: 1.5 }, reason: 'QUORUM_INVALID' },
    { name: 'an expiry in the past', input: { expiresAt: T0 }, reason: 'EXPIRY_INVALID' },
    { name: 'a malformed digest', input: { requestDigest: 'abc' }, reason: 'DIGEST_INVALID' },
    {
      name: 'a pool that reaches quorum only with the initiator',
      input: { approverPool: ['alice', 'bob'] },
      reason: 'POOL_TOO_SMALL',
    },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name}`, () => {
      const result = createApproval(
        {
          id: 'apr_x',
          kind: 'withdrawal',
          requestDigest: DIGEST,
          initiator: 'alice',
          quorum: 2,
          ...r.input,
        },
        T0,
      );
      expect(result).toMatchObject({ ok: false, reason: r.reason });
    });
  }
});

describe('decide', () => {
  it('stays pending with fewer approvals than the quorum', () => {
    expect(must(vote(held(), 'bob')).approval.state).toBe('pending');
  });

  it('is approved by two distinct approvers', () => {
    const first = must(vote(held(), 'bob')).approval;
    expect(must(vote(first, 'carol')).approval.state).toBe('approved');
  });

  it('refuses the initiator approving their own request', () => {
    expect(vote(held(), 'alice')).toEqual({ ok: false, reason: 'SELF_APPROVAL' });
  });

  it('refuses the same approver twice (one person, one vote)', () => {
    const first = must(vote(held(), 'bob')).approval;
    expect(vote(first, 'bob')).toEqual({ ok: false, reason: 'ALREADY_VOTED' });
  });

  it('refuses a vote on a changed request', () => {
    expect(
      decide(held(), { approver: 'bob', vote: 'approve', digest: OTHER_DIGEST, now: T0 + 1 }),
    ).toEqual({ ok: false, reason: 'DIGEST_MISMATCH' });
  });

  it('refuses someone outside the approver pool', () => {
    expect(vote(held({ approverPool: ['bob', 'carol'] }), 'mallory')).toEqual({
      ok: false,
      reason: 'NOT_AN_APPROVER',
    });
  });

  it('refuses a vote at the expiry instant', () => {
    expect(vote(held(), 'bob', 'approve', T0 + DEFAULT_APPROVAL_TTL_MS)).toEqual({
      ok: false,
      reason: 'EXPIRED',
    });
  });

  it('any rejection ends the round', () => {
    const first = must(vote(held({ quorum: 3 }), 'bob')).approval;
    const rejected = must(vote(first, 'carol', 'reject')).approval;
    expect(rejected.state).toBe('rejected');
    expect(vote(rejected, 'dave')).toEqual({ ok: false, reason: 'NOT_PENDING' });
  });

  it('refuses votes once approved', () => {
    const approved = must(vote(must(vote(held(), 'bob')).approval, 'carol')).approval;
    expect(vote(approved, 'dave')).toEqual({ ok: false, reason: 'NOT_PENDING' });
  });

  it('each vote is a transition from the version it saw', () => {
    const approval = held();
    const { transition } = must(vote(approval, 'bob'));
    expect(transition).toMatchObject({
      event: 'voted',
      from: { state: 'pending', version: 1 },
      to: { state: 'pending', version: 2 },
      actor: 'bob',
    });
  });
});

describe('expireApproval', () => {
  it('is not due before the expiry', () => {
    expect(expireApproval(held(), T0 + DEFAULT_APPROVAL_TTL_MS - 1)).toEqual({
      ok: false,
      reason: 'NOT_DUE',
    });
  });

  it('expires a pending round at its expiry', () => {
    expect(must(expireApproval(held(), T0 + DEFAULT_APPROVAL_TTL_MS)).approval.state).toBe(
      'expired',
    );
  });

  it('does not expire an approved round', () => {
    const approved = must(vote(must(vote(held(), 'bob')).approval, 'carol')).approval;
    expect(expireApproval(approved, T0 + 2 * DEFAULT_APPROVAL_TTL_MS)).toMatchObject({
      reason: 'NOT_PENDING',
    });
  });
});

describe('execution', () => {
  const approved = must(vote(must(vote(held(), 'bob')).approval, 'carol')).approval;
  const begin = (a: Approval, executionId = 'exe_1', now = T0 + 5000, digest = DIGEST) =>
    beginExecution(a, { executionId, digest, now });

  it('held → approved by two → executing → executed', () => {
    const executing = must(begin(approved)).approval;
    const done = must(
      finishExecution(executing, { executionId: 'exe_1', outcome: 'executed', now: T0 + 6000 }),
    ).approval;
    expect([executing.state, done.state]).toEqual(['executing', 'executed']);
  });

  it('refuses a second beginExecution', () => {
    const executing = must(begin(approved)).approval;
    expect(begin(executing, 'exe_2')).toEqual({ ok: false, reason: 'ALREADY_STARTED' });
  });

  it('refuses to execute a pending round', () => {
    expect(begin(held())).toEqual({ ok: false, reason: 'NOT_APPROVED' });
  });

  it('refuses to execute a different request than the one approved', () => {
    expect(begin(approved, 'exe_1', T0 + 5000, OTHER_DIGEST)).toEqual({
      ok: false,
      reason: 'DIGEST_MISMATCH',
    });
  });

  it('refuses to execute after the execution window', () => {
    expect(begin(approved, 'exe_1', T0 + 1000 + DEFAULT_EXECUTION_WINDOW_MS)).toEqual({
      ok: false,
      reason: 'EXPIRED',
    });
  });

  it('only the execution that claimed the round may finish it', () => {
    const executing = must(begin(approved)).approval;
    expect(
      finishExecution(executing, { executionId: 'exe_9', outcome: 'executed', now: T0 + 6000 }),
    ).toEqual({ ok: false, reason: 'EXECUTION_MISMATCH' });
  });

  it('records a failed execution', () => {
    const executing = must(begin(approved)).approval;
    const failed = finishExecution(executing, {
      executionId: 'exe_1',
      outcome: 'failed',
      detail: 'upstream 503',
      now: T0 + 6000,
    });
    expect(must(failed).approval.state).toBe('failed');
  });

  it('two nodes racing to execute: the compare-and-set lets exactly one through', () => {
    /** A store that applies a transition only to the record it was computed from. */
    let stored = approved;
    const apply = (next: Approval, transition: ApprovalTransition): boolean => {
      if (!transitionApplies(stored, transition)) return false;
      stored = next;
      return true;
    };
    // Both nodes read the same approved record, both decide to begin.
    const nodeA = must(begin(stored, 'exe_a'));
    const nodeB = must(begin(stored, 'exe_b'));
    const wins = [apply(nodeA.approval, nodeA.transition), apply(nodeB.approval, nodeB.transition)];
    expect(wins).toEqual([true, false]);
    expect(stored.execution?.executionId).toBe('exe_a');
  });

  it('two approvers racing with the same stale record: the second must re-read', () => {
    let stored = held({ quorum: 2 });
    const apply = (r: { approval: Approval; transition: ApprovalTransition }): boolean => {
      if (!transitionApplies(stored, r.transition)) return false;
      stored = r.approval;
      return true;
    };
    const bob = must(vote(stored, 'bob'));
    const carol = must(vote(stored, 'carol'));
    expect([apply(bob), apply(carol)]).toEqual([true, false]);
    expect(apply(must(vote(stored, 'carol')))).toBe(true);
    expect(stored.state).toBe('approved');
  });
});
