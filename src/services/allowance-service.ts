/**
 * Spend allowances of keys (docs/policies.md §4.1): an operator gives a key a bounded, expiring
 * allowance — at most an amount of notional traded or of an asset withdrawn per period — and
 * the data plane holds each order or withdrawal against it before forwarding. Decisions are in
 * src/core/transactions (pure); the store applies them atomically.
 */
import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson } from '../core/audit/canonical-json.js';
import type { AuditDraft } from '../core/audit/audit-chain.js';
import type { JsonValue } from '../core/audit/canonical-json.js';
import type { Clock } from '../core/clock.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { PortcullisError } from '../core/errors.js';
import {
  allowanceStatus,
  normalizeDecimal,
  parseDecimal,
  type AllowanceDenial,
  type AllowanceKind,
  type AllowanceSpend,
  type SpendAllowance,
} from '../core/transactions/index.js';
import type { AllowanceStore, ChangeEvents, ControlStore, StoredAllowance } from '../ports.js';
import type { ApprovalService } from './approval-service.js';
import { newId } from './ids.js';
import type { ActorContext } from './key-service.js';

export interface AllowanceInput {
  readonly kind: AllowanceKind;
  /** The quote asset for `notional` (e.g. USDT), the withdrawn asset for `withdrawal`. */
  readonly asset: string;
  /** Plain decimal text: the most per period. */
  readonly amount: string;
  /** A duration (`1h`, `24h`, `7d`) or `lifetime` (one period until the expiry). */
  readonly period: string;
  /** ISO 8601 instant; or `expiresIn`, a duration from now. Exactly one is required. */
  readonly expiresAt?: string;
  readonly expiresIn?: string;
}

export type HoldOutcome =
  | { readonly kind: 'none' }
  | { readonly kind: 'held'; readonly holdId: string }
  | { readonly kind: 'refused'; readonly reason: AllowanceDenial | 'AMOUNT_INVALID' };

/** Allowances are bounded: at most this many per key, expiring at most this far ahead. */
export const MAX_ALLOWANCES_PER_KEY = 16;
export const MAX_ALLOWANCE_LIFETIME_MS = 366 * 24 * 3_600_000;
const MIN_PERIOD_MS = 60_000;
const ASSET = /^[A-Z0-9]{1,16}$/;

export function createAllowanceService(deps: {
  store: AllowanceStore & Pick<ControlStore, 'getKey'>;
  clock: Clock;
  /**
   * Removing an allowance widens what a key can do (like removing its IP allowlist): with a
   * quorum above 0 it is held for that many approvers (PORTCULLIS_KEY_CHANGE_QUORUM).
   */
  approvals?: ApprovalService | undefined;
  removalQuorum?: number;
  /** Where key changes are published (the key caches of every node listen). */
  events?: ChangeEvents | undefined;
}) {
  const { store, clock, approvals } = deps;
  const removalQuorum = approvals === undefined ? 0 : (deps.removalQuorum ?? 0);
  const draft = (ctx: ActorContext, action: string, keyId: string, data: JsonObject) =>
    ({
      ts: clock.now(),
      actor: ctx.actor,
      action,
      target: keyId,
      requestId: ctx.requestId,
      data,
    }) satisfies AuditDraft;

  async function removeNow(keyId: string, allowanceId: string, ctx: ActorContext): Promise<void> {
    const epoch = await requireKey(keyId);
    const audit = draft(ctx, 'key.allowance.remove', keyId, { allowanceId });
    if (!(await store.removeAllowance(keyId, allowanceId, audit))) {
      throw notFound(keyId, allowanceId);
    }
    changed(keyId, epoch);
  }

  /**
   * The key carries the kinds of its allowances into every key cache, so each change drops it
   * from them: an event now, and the `key.` audit action for nodes that missed the event
   * (src/app/cluster-sync.ts reads the audit feed).
   */
  function changed(keyId: string, epoch: number): void {
    deps.events?.publish({ type: 'key.changed', keyId, epoch });
  }

  approvals?.register(REMOVAL_KIND, {
    digest: (subject) => subjectDigest(subject),
    async execute(record, ctx) {
      const { keyId, allowanceId } = record.subject as { keyId: string; allowanceId: string };
      await removeNow(keyId, allowanceId, ctx);
      return { ok: true, result: { removed: allowanceId }, detail: 'allowance removed' };
    },
  });

  /** The key's epoch; KEY_NOT_FOUND when there is no such key. */
  async function requireKey(keyId: string): Promise<number> {
    const stored = await store.getKey(keyId);
    if (!stored) throw new PortcullisError('KEY_NOT_FOUND', `No key ${keyId}.`);
    return stored.key.epoch;
  }

  return {
    /** The key's allowances (expired ones included until removed: they still refuse). */
    async list(keyId: string): Promise<StoredAllowance[]> {
      await requireKey(keyId);
      return store.listAllowances(keyId);
    },

    /** Gives the key a new allowance, in force from now. */
    async add(keyId: string, input: AllowanceInput, ctx: ActorContext): Promise<StoredAllowance> {
      const epoch = await requireKey(keyId);
      const nowMs = clock.now();
      const allowance = toAllowance(newId('alw_'), keyId, input, nowMs);
      if ((await store.listAllowances(keyId)).length >= MAX_ALLOWANCES_PER_KEY) {
        throw new PortcullisError(
          'VALIDATION_FAILED',
          `A key holds at most ${MAX_ALLOWANCES_PER_KEY} allowances; remove one first.`,
        );
      }
      await store.addAllowance(
        allowance,
        nowMs,
        draft(ctx, 'key.allowance.add', keyId, {
          after: allowanceJson({ allowance, usage: undefined, createdAt: nowMs }, nowMs),
        }),
      );
      changed(keyId, epoch);
      return { allowance, usage: undefined, createdAt: nowMs };
    },

    /** Removes an allowance now, or holds the removal for approval when a quorum is set. */
    async remove(
      keyId: string,
      allowanceId: string,
      ctx: ActorContext & { person: string },
    ): Promise<{ readonly removed: string } | { readonly approvalId: string; quorum: number }> {
      await requireKey(keyId);
      if (removalQuorum > 0 && approvals !== undefined) {
        const listed = await store.listAllowances(keyId);
        if (!listed.some((s) => s.allowance.id === allowanceId)) throw notFound(keyId, allowanceId);
        const subject: JsonObject = { keyId, allowanceId };
        const approval = await approvals.hold(
          {
            kind: REMOVAL_KIND,
            subject,
            digest: subjectDigest(subject),
            initiator: ctx.person,
            quorum: removalQuorum,
          },
          ctx,
        );
        return { approvalId: approval.id, quorum: removalQuorum };
      }
      await removeNow(keyId, allowanceId, ctx);
      return { removed: allowanceId };
    },

    /** Holds an amount against the key's allowances of the kind; `none` when it has none. */
    async hold(spend: Omit<AllowanceSpend, 'holdId'>): Promise<HoldOutcome> {
      const holdId = `hld_${randomUUID().replaceAll('-', '')}`;
      const decision = await store.holdAllowances({ ...spend, holdId }, clock.now());
      if (!decision.ok) return { kind: 'refused', reason: decision.reason };
      return decision.held ? { kind: 'held', holdId } : { kind: 'none' };
    },

    /** Commit after the upstream accepted; release after it refused. */
    settle: (holdId: string, outcome: 'commit' | 'release'): Promise<boolean> =>
      store.settleAllowanceHold(holdId, outcome),
  };
}

export type AllowanceService = ReturnType<typeof createAllowanceService>;

type JsonObject = { readonly [name: string]: JsonValue };

/** The approval kind of a held removal. */
const REMOVAL_KIND = 'allowance.remove';

function subjectDigest(subject: JsonObject): string {
  return createHash('sha256').update(canonicalJson(subject)).digest('hex');
}

function notFound(keyId: string, allowanceId: string): PortcullisError {
  return new PortcullisError(
    'ALLOWANCE_NOT_FOUND',
    `Key ${keyId} has no allowance ${allowanceId}.`,
  );
}

function invalid(message: string): PortcullisError {
  return new PortcullisError('VALIDATION_FAILED', message);
}

/** Validates the input into an allowance starting at `nowMs`. */
function toAllowance(
  id: string,
  keyId: string,
  input: AllowanceInput,
  nowMs: number,
): SpendAllowance {
  if (input.kind !== 'notional' && input.kind !== 'withdrawal') {
    throw invalid('kind is notional or withdrawal.');
  }
  if (!ASSET.test(input.asset)) throw invalid('asset is 1–16 upper-case letters or digits.');
  const amount = normalizeDecimal(input.amount);
  if (amount === undefined || parseDecimal(amount) === 0n) {
    throw invalid('amount is a plain decimal above zero, e.g. "5000" or "0.5".');
  }
  const expiresAt = expiryOf(input, nowMs);
  let periodMs: number;
  if (input.period === 'lifetime') periodMs = expiresAt - nowMs;
  else {
    const parsed = parseDuration(input.period);
    if (parsed === undefined) {
      throw new PortcullisError(
        'INVALID_DURATION',
        'period is a duration like 1h or 24h, or lifetime.',
      );
    }
    if (parsed < MIN_PERIOD_MS) throw invalid('period is at least 1m.');
    periodMs = Math.min(parsed, expiresAt - nowMs);
  }
  return {
    id,
    keyId,
    kind: input.kind,
    asset: input.asset,
    amountPerPeriod: amount,
    periodMs,
    startsAt: nowMs,
    expiresAt,
  };
}

function expiryOf(input: AllowanceInput, nowMs: number): number {
  if ((input.expiresAt === undefined) === (input.expiresIn === undefined)) {
    throw invalid('Give exactly one of expiresAt and expiresIn: an allowance always expires.');
  }
  let expiresAt: number;
  if (input.expiresIn !== undefined) {
    const ms = parseDuration(input.expiresIn);
    if (ms === undefined)
      throw new PortcullisError('INVALID_DURATION', 'expiresIn is a duration like 30d.');
    expiresAt = nowMs + ms;
  } else {
    expiresAt = Date.parse(input.expiresAt ?? '');
    if (!Number.isFinite(expiresAt)) throw invalid('expiresAt is an ISO 8601 instant.');
  }
  if (expiresAt <= nowMs) throw invalid('The expiry must be in the future.');
  if (expiresAt - nowMs > MAX_ALLOWANCE_LIFETIME_MS)
    throw invalid('An allowance expires within 366 days.');
  return expiresAt;
}

/** The allowance as the admin API shows it, with what its current period has spent and left. */
export function allowanceJson(
  stored: StoredAllowance,
  nowMs: number,
): { [name: string]: JsonValue } {
  const a = stored.allowance;
  const status = allowanceStatus(a, stored.usage, nowMs);
  const lifetime = a.startsAt + a.periodMs >= a.expiresAt;
  return {
    id: a.id,
    keyId: a.keyId,
    kind: a.kind,
    asset: a.asset,
    amount: a.amountPerPeriod,
    period: lifetime ? 'lifetime' : formatDuration(a.periodMs),
    startsAt: new Date(a.startsAt).toISOString(),
    expiresAt: new Date(a.expiresAt).toISOString(),
    state: status.state,
    spent: status.state === 'active' ? status.spent : null,
    remaining: status.state === 'active' ? status.remaining : null,
    periodEnd: status.state === 'active' ? new Date(status.periodEnd).toISOString() : null,
  };
}
