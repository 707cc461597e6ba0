/**
 * Multi-party approval around the pure state machine (src/core/approvals): holds a request,
 * records votes with compare-and-set, expires due rounds, and executes an approved request
 * exactly once through the executor registered for its kind. Every transition is audited in the
 * same transaction as the row change (the store's transitionApproval).
 */
import type { AuditDraft } from '../core/audit/audit-chain.js';
import type { JsonValue } from '../core/audit/canonical-json.js';
import {
  beginExecution,
  createApproval,
  decide,
  expireApproval,
  finishExecution,
  type Approval,
  type ApprovalState,
  type ApprovalTransition,
} from '../core/approvals/index.js';
import type { Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import type { ApprovalRecord, ApprovalStore } from '../ports.js';
import { newId } from './ids.js';
import type { ActorContext } from './key-service.js';

type JsonObject = { readonly [name: string]: JsonValue };

/** Runs a held request of one kind once it is approved. */
export interface ApprovalExecutor {
  /** The digest of the subject as it would be executed now (must equal the approved one). */
  digest(subject: JsonObject): string;
  /** Re-checks policies and limits and executes; the result is stored for the requester. */
  execute(
    record: ApprovalRecord,
    ctx: ActorContext,
  ): Promise<{ readonly ok: boolean; readonly result: JsonObject; readonly detail: string }>;
}

export interface HoldInput {
  readonly kind: string;
  readonly subject: JsonObject;
  readonly digest: string;
  /** The person or key that asked; never allowed to approve. */
  readonly initiator: string;
  readonly quorum: number;
  readonly ttlMs?: number;
  /** The policy that required approval, for the audit log. */
  readonly policy?: { readonly policyId: string; readonly version: number };
}

export function createApprovalService(deps: { store: ApprovalStore; clock: Clock }) {
  const { store, clock } = deps;
  const executors = new Map<string, ApprovalExecutor>();

  const draft = (
    ctx: ActorContext,
    action: string,
    transition: ApprovalTransition,
    data: JsonObject = {},
  ): AuditDraft => ({
    ts: clock.now(),
    actor: ctx.actor,
    action,
    target: transition.approvalId,
    requestId: ctx.requestId,
    data: {
      event: transition.event,
      from: transition.from === null ? null : { ...transition.from },
      to: { ...transition.to },
      by: transition.actor,
      ...data,
    },
  });

  async function load(id: string): Promise<ApprovalRecord> {
    const record = await store.getApproval(id);
    if (!record) throw new PortcullisError('APPROVAL_NOT_FOUND', `No approval ${id}.`);
    return record;
  }

  /** Moves a due pending round to expired (whoever reads it first writes the transition). */
  async function refresh(record: ApprovalRecord): Promise<ApprovalRecord> {
    const expired = expireApproval(record.approval, clock.now());
    if (!expired.ok) return record;
    const ctx = { actor: 'system', requestId: 'approval-expiry' };
    await store.transitionApproval(
      expired.approval,
      expired.transition,
      draft(ctx, 'approval.expire', expired.transition),
    );
    return load(record.approval.id);
  }

  /** Claims and runs the execution; a lost compare-and-set means another caller runs it. */
  async function execute(record: ApprovalRecord, ctx: ActorContext): Promise<ApprovalRecord> {
    const executor = executors.get(record.approval.kind);
    if (!executor) return record;
    const executionId = newId('exe_');
    const begun = beginExecution(record.approval, {
      executionId,
      digest: executor.digest(record.subject),
      now: clock.now(),
    });
    if (!begun.ok) {
      if (begun.reason === 'DIGEST_MISMATCH' || begun.reason === 'EXPIRED') {
        await fail(record.approval, executionId, begun.reason, ctx);
      }
      return load(record.approval.id);
    }
    const claimed = await store.transitionApproval(
      begun.approval,
      begun.transition,
      draft(ctx, 'approval.execute', begun.transition),
    );
    if (!claimed) return load(record.approval.id);
    let outcome: { ok: boolean; result: JsonObject; detail: string };
    try {
      outcome = await executor.execute({ ...record, approval: begun.approval }, ctx);
    } catch (error) {
      const code = error instanceof PortcullisError ? error.code : 'INTERNAL_ERROR';
      outcome = { ok: false, result: { error: code }, detail: code };
    }
    const finished = finishExecution(begun.approval, {
      executionId,
      outcome: outcome.ok ? 'executed' : 'failed',
      detail: outcome.detail,
      now: clock.now(),
    });
    if (finished.ok) {
      await store.transitionApproval(
        finished.approval,
        finished.transition,
        draft(ctx, 'approval.finish', finished.transition, { detail: outcome.detail }),
        outcome.result,
      );
    }
    return load(record.approval.id);
  }

  /**
   * An approved round whose execution cannot begin (digest changed, window passed) is recorded
   * as failed: claim it, then finish it with the reason, so it never runs later.
   */
  async function fail(
    approval: Approval,
    executionId: string,
    reason: string,
    ctx: ActorContext,
  ): Promise<void> {
    if (approval.state !== 'approved') return;
    const claimed: Approval = {
      ...approval,
      state: 'executing',
      version: approval.version + 1,
      updatedAt: clock.now(),
      execution: { executionId, startedAt: clock.now() },
    };
    const transition: ApprovalTransition = {
      approvalId: approval.id,
      event: 'execution-started',
      from: { state: approval.state, version: approval.version },
      to: { state: 'executing', version: claimed.version },
      actor: executionId,
      at: clock.now(),
    };
    if (
      !(await store.transitionApproval(
        claimed,
        transition,
        draft(ctx, 'approval.execute', transition),
      ))
    ) {
      return;
    }
    const finished = finishExecution(claimed, {
      executionId,
      outcome: 'failed',
      detail: reason,
      now: clock.now(),
    });
    if (finished.ok) {
      await store.transitionApproval(
        finished.approval,
        finished.transition,
        draft(ctx, 'approval.finish', finished.transition, { detail: reason }),
        { error: reason },
      );
    }
  }

  return {
    register(kind: string, executor: ApprovalExecutor): void {
      executors.set(kind, executor);
    },

    /** Opens a round for a held request; answers with the pending approval. */
    async hold(input: HoldInput, ctx: ActorContext): Promise<Approval> {
      const created = createApproval(
        {
          id: newId('apr_'),
          kind: input.kind,
          requestDigest: input.digest,
          initiator: input.initiator,
          quorum: input.quorum,
          ...(input.ttlMs !== undefined ? { expiresAt: clock.now() + input.ttlMs } : {}),
        },
        clock.now(),
      );
      if (!created.ok) throw new PortcullisError('VALIDATION_FAILED', created.reason);
      await store.createApproval(
        { approval: created.approval, subject: input.subject, result: null },
        draft(ctx, 'approval.create', created.transition, {
          kind: input.kind,
          quorum: input.quorum,
          digest: input.digest,
          ...(input.policy ? { policy: { ...input.policy } } : {}),
        }),
      );
      return created.approval;
    },

    async get(id: string): Promise<ApprovalRecord> {
      return refresh(await load(id));
    },

    async list(filter: { state?: ApprovalState; limit?: number }): Promise<ApprovalRecord[]> {
      const rows = await store.listApprovals({
        ...(filter.state !== undefined ? { state: filter.state } : {}),
        limit: Math.min(filter.limit ?? 100, 1000),
      });
      return Promise.all(rows.map(refresh));
    },

    /**
     * One approver's vote. `person` identifies a human (distinct tokens of one person count
     * once); on quorum the held request is executed before this call returns.
     */
    async vote(
      id: string,
      input: { person: string; vote: 'approve' | 'reject'; digest?: string },
      ctx: ActorContext,
    ): Promise<ApprovalRecord> {
      for (let attempt = 0; attempt < 5; attempt++) {
        const record = await refresh(await load(id));
        const decided = decide(record.approval, {
          approver: input.person,
          vote: input.vote,
          digest: input.digest ?? record.approval.requestDigest,
          now: clock.now(),
        });
        if (!decided.ok) {
          if (decided.reason === 'SELF_APPROVAL') {
            throw new PortcullisError('APPROVAL_SELF', 'The initiator cannot decide this request.');
          }
          throw new PortcullisError(
            'APPROVAL_REFUSED',
            `The vote is not accepted (${decided.reason}).`,
            [decided.reason],
          );
        }
        const written = await store.transitionApproval(
          decided.approval,
          decided.transition,
          draft(
            ctx,
            input.vote === 'approve' ? 'approval.approve' : 'approval.reject',
            decided.transition,
            {
              person: input.person,
            },
          ),
        );
        if (!written) continue; // another vote landed first: re-read and decide again
        const next = await load(id);
        return next.approval.state === 'approved' ? execute(next, ctx) : next;
      }
      throw new PortcullisError('CONFLICT', `Approval ${id} changed concurrently; retry.`);
    },
  };
}

export type ApprovalService = ReturnType<typeof createApprovalService>;

/** The API picture of an approval (times as ISO-8601). */
export function approvalJson(record: ApprovalRecord): { [name: string]: JsonValue } {
  const a = record.approval;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: a.id,
    kind: a.kind,
    state: a.state,
    quorum: a.quorum,
    initiator: a.initiator,
    requestDigest: a.requestDigest,
    votes: a.votes.map((v) => ({ approver: v.approver, vote: v.vote, at: iso(v.at) })),
    createdAt: iso(a.createdAt),
    expiresAt: iso(a.expiresAt),
    updatedAt: iso(a.updatedAt),
    version: a.version,
    subject: record.subject,
    result: record.result,
  };
}
