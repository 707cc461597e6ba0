/**
 * The multi-party approval state machine (reference §2.5 #5, #6, #10):
 *
 *   pending ──quorum──▶ approved ──beginExecution──▶ executing ──▶ executed | failed
 *      │ any reject ─▶ rejected
 *      └ expiry ─────▶ expired
 *
 * Pure: every function returns a new approval and a `transition` naming the state and version it
 * started from. A store applies a transition as one compare-and-set (`UPDATE … WHERE id = $1 AND
 * state = $from AND version = $version`); when two approvers or two nodes race, exactly one
 * write lands and the loser re-reads. That is what makes execution happen exactly once: two
 * nodes may both compute `beginExecution` on the same approved record, only one CAS succeeds.
 * Each transition is meant to be appended to the audit log as is.
 */
import { digestsEqual } from './request-digest.js';

export type ApprovalState =
  'pending' | 'approved' | 'rejected' | 'expired' | 'executing' | 'executed' | 'failed';

/** Default time approvers have to reach quorum. */
export const DEFAULT_APPROVAL_TTL_MS = 3_600_000;
/** Once approved, execution must begin within this window (policies are re-checked then). */
export const DEFAULT_EXECUTION_WINDOW_MS = 15 * 60_000;
export const MAX_QUORUM = 20;

export interface ApprovalVote {
  /** A person id: distinct people, not two tokens of one person (the caller maps tokens). */
  readonly approver: string;
  readonly vote: 'approve' | 'reject';
  readonly at: number;
}

export interface Approval {
  readonly id: string;
  /** What is held, e.g. `withdrawal`, `address.add`, `key.update`, `policy.change`. */
  readonly kind: string;
  readonly requestDigest: string;
  readonly initiator: string;
  readonly quorum: number;
  /** Who may vote; null means anyone with the approver role (checked by the caller). */
  readonly approverPool: readonly string[] | null;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly state: ApprovalState;
  readonly votes: readonly ApprovalVote[];
  /** Bumped on every transition: the compare-and-set token. */
  readonly version: number;
  readonly updatedAt: number;
  /** Set on approval: execution must begin before this instant. */
  readonly executeBy?: number;
  readonly execution?: {
    readonly executionId: string;
    readonly startedAt: number;
    readonly finishedAt?: number;
    /** A short, secret-free summary of the upstream answer. */
    readonly detail?: string;
  };
}

export type ApprovalEvent = 'created' | 'voted' | 'expired' | 'execution-started' | 'finished';

/** One state change, for the store's compare-and-set and the audit log. */
export interface ApprovalTransition {
  readonly approvalId: string;
  readonly event: ApprovalEvent;
  /** null for creation. */
  readonly from: { readonly state: ApprovalState; readonly version: number } | null;
  readonly to: { readonly state: ApprovalState; readonly version: number };
  readonly actor: string;
  readonly at: number;
}

export type ApprovalResult<E extends string> =
  | { readonly ok: true; readonly approval: Approval; readonly transition: ApprovalTransition }
  | { readonly ok: false; readonly reason: E };

export type CreateRefusal =
  'QUORUM_INVALID' | 'POOL_TOO_SMALL' | 'EXPIRY_INVALID' | 'DIGEST_INVALID';
export type DecideRefusal =
  | 'NOT_PENDING'
  | 'EXPIRED'
  | 'SELF_APPROVAL'
  | 'NOT_AN_APPROVER'
  | 'DIGEST_MISMATCH'
  | 'ALREADY_VOTED';
export type BeginRefusal = 'NOT_APPROVED' | 'ALREADY_STARTED' | 'EXPIRED' | 'DIGEST_MISMATCH';
export type FinishRefusal = 'NOT_EXECUTING' | 'EXECUTION_MISMATCH';

export interface CreateApprovalInput {
  readonly id: string;
  readonly kind: string;
  readonly requestDigest: string;
  readonly initiator: string;
  readonly quorum: number;
  readonly approverPool?: readonly string[];
  /** Defaults to now + 1 h. */
  readonly expiresAt?: number;
}

/** Opens an approval round for a held request. */
export function createApproval(
  input: CreateApprovalInput,
  nowMs: number,
): ApprovalResult<CreateRefusal> {
  if (!Number.isInteger(input.quorum) || input.quorum < 1 || input.quorum > MAX_QUORUM) {
    return { ok: false, reason: 'QUORUM_INVALID' };
  }
  if (!/^[0-9a-f]{64}$/.test(input.requestDigest)) return { ok: false, reason: 'DIGEST_INVALID' };
  const expiresAt = input.expiresAt ?? nowMs + DEFAULT_APPROVAL_TTL_MS;
  if (!Number.isFinite(expiresAt) || expiresAt <= nowMs) {
    return { ok: false, reason: 'EXPIRY_INVALID' };
  }
  let pool: readonly string[] | null = null;
  if (input.approverPool !== undefined) {
    pool = Object.freeze([...new Set(input.approverPool)]);
    // The initiator never counts: the pool must reach quorum without them.
    if (pool.filter((p) => p !== input.initiator).length < input.quorum) {
      return { ok: false, reason: 'POOL_TOO_SMALL' };
    }
  }
  const approval: Approval = {
    id: input.id,
    kind: input.kind,
    requestDigest: input.requestDigest,
    initiator: input.initiator,
    quorum: input.quorum,
    approverPool: pool,
    createdAt: nowMs,
    expiresAt,
    state: 'pending',
    votes: [],
    version: 1,
    updatedAt: nowMs,
  };
  return {
    ok: true,
    approval,
    transition: transitionOf(null, approval, 'created', input.initiator, nowMs),
  };
}

/** Records one approver's vote; any rejection ends the round, M distinct approvals approve it. */
export function decide(
  approval: Approval,
  input: {
    readonly approver: string;
    readonly vote: 'approve' | 'reject';
    readonly digest: string;
    readonly now: number;
  },
): ApprovalResult<DecideRefusal> {
  if (approval.state !== 'pending') return { ok: false, reason: 'NOT_PENDING' };
  if (input.now >= approval.expiresAt) return { ok: false, reason: 'EXPIRED' };
  if (input.approver === approval.initiator) return { ok: false, reason: 'SELF_APPROVAL' };
  if (approval.approverPool !== null && !approval.approverPool.includes(input.approver)) {
    return { ok: false, reason: 'NOT_AN_APPROVER' };
  }
  // The approver confirms the digest they were shown: a changed request is a new round.
  if (!digestsEqual(input.digest, approval.requestDigest)) {
    return { ok: false, reason: 'DIGEST_MISMATCH' };
  }
  if (approval.votes.some((v) => v.approver === input.approver)) {
    return { ok: false, reason: 'ALREADY_VOTED' };
  }
  const votes = [...approval.votes, { approver: input.approver, vote: input.vote, at: input.now }];
  const approvals = votes.filter((v) => v.vote === 'approve').length;
  const state: ApprovalState =
    input.vote === 'reject' ? 'rejected' : approvals >= approval.quorum ? 'approved' : 'pending';
  const next: Approval = {
    ...approval,
    votes,
    state,
    version: approval.version + 1,
    updatedAt: input.now,
    ...(state === 'approved' ? { executeBy: input.now + DEFAULT_EXECUTION_WINDOW_MS } : {}),
  };
  return {
    ok: true,
    approval: next,
    transition: transitionOf(approval, next, 'voted', input.approver, input.now),
  };
}

/** Moves a pending approval past its expiry to `expired` (a sweeper or the next reader calls it). */
export function expireApproval(
  approval: Approval,
  nowMs: number,
): ApprovalResult<'NOT_PENDING' | 'NOT_DUE'> {
  if (approval.state !== 'pending') return { ok: false, reason: 'NOT_PENDING' };
  if (nowMs < approval.expiresAt) return { ok: false, reason: 'NOT_DUE' };
  const next: Approval = {
    ...approval,
    state: 'expired',
    version: approval.version + 1,
    updatedAt: nowMs,
  };
  return {
    ok: true,
    approval: next,
    transition: transitionOf(approval, next, 'expired', 'system', nowMs),
  };
}

/**
 * Claims the execution of an approved request. The caller passes the digest of the request it is
 * about to send upstream, and re-checks policies and limits before calling (§2.5 #6).
 */
export function beginExecution(
  approval: Approval,
  input: { readonly executionId: string; readonly digest: string; readonly now: number },
): ApprovalResult<BeginRefusal> {
  if (
    approval.state === 'executing' ||
    approval.state === 'executed' ||
    approval.state === 'failed'
  ) {
    return { ok: false, reason: 'ALREADY_STARTED' };
  }
  if (approval.state !== 'approved') return { ok: false, reason: 'NOT_APPROVED' };
  if (approval.executeBy !== undefined && input.now >= approval.executeBy) {
    return { ok: false, reason: 'EXPIRED' };
  }
  if (!digestsEqual(input.digest, approval.requestDigest)) {
    return { ok: false, reason: 'DIGEST_MISMATCH' };
  }
  const next: Approval = {
    ...approval,
    state: 'executing',
    version: approval.version + 1,
    updatedAt: input.now,
    execution: { executionId: input.executionId, startedAt: input.now },
  };
  return {
    ok: true,
    approval: next,
    transition: transitionOf(approval, next, 'execution-started', input.executionId, input.now),
  };
}

/** Records the upstream outcome of the execution that was claimed. */
export function finishExecution(
  approval: Approval,
  input: {
    readonly executionId: string;
    readonly outcome: 'executed' | 'failed';
    readonly detail?: string;
    readonly now: number;
  },
): ApprovalResult<FinishRefusal> {
  if (approval.state !== 'executing' || approval.execution === undefined) {
    return { ok: false, reason: 'NOT_EXECUTING' };
  }
  if (approval.execution.executionId !== input.executionId) {
    return { ok: false, reason: 'EXECUTION_MISMATCH' };
  }
  const next: Approval = {
    ...approval,
    state: input.outcome,
    version: approval.version + 1,
    updatedAt: input.now,
    execution: {
      ...approval.execution,
      finishedAt: input.now,
      ...(input.detail !== undefined ? { detail: input.detail } : {}),
    },
  };
  return {
    ok: true,
    approval: next,
    transition: transitionOf(approval, next, 'finished', input.executionId, input.now),
  };
}

/** Whether a store's current record is the one a transition was computed from (the CAS test). */
export function transitionApplies(current: Approval, transition: ApprovalTransition): boolean {
  return (
    transition.from !== null &&
    current.id === transition.approvalId &&
    current.state === transition.from.state &&
    current.version === transition.from.version
  );
}

function transitionOf(
  from: Approval | null,
  to: Approval,
  event: ApprovalEvent,
  actor: string,
  at: number,
): ApprovalTransition {
  return {
    approvalId: to.id,
    event,
    from: from === null ? null : { state: from.state, version: from.version },
    to: { state: to.state, version: to.version },
    actor,
    at,
  };
}
