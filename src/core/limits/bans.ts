/**
 * Escalating bans for IP prefixes that keep hitting 429 after being told to stop (as Binance
 * does: 418, from 2 minutes up to 3 days). Pure functions over one prefix's record and `nowMs`.
 *
 * - Refusals are counted in a fixed window opened by the first refusal: `refusalThreshold`
 *   refusals within `refusalWindowMs` make an offence.
 * - Offence n (1-based) bans for `firstBanMs · 2^(n−1)`, capped at `maxBanMs`.
 * - The offence count decays: each full `offenceMemoryMs` without a new offence forgets one.
 */
import type { Environment } from '../keys/model.js';

export interface BanPolicy {
  readonly refusalThreshold: number;
  readonly refusalWindowMs: number;
  readonly firstBanMs: number;
  readonly maxBanMs: number;
  readonly offenceMemoryMs: number;
}

/** 50 refusals within a minute → 2 min, 4, 8 … capped at 3 days; one offence forgotten per day. */
export const DEFAULT_BAN_POLICY: BanPolicy = {
  refusalThreshold: 50,
  refusalWindowMs: 60_000,
  firstBanMs: 120_000,
  maxBanMs: 3 * 86_400_000,
  offenceMemoryMs: 86_400_000,
};

/** What is remembered about one IP prefix. Times are epoch milliseconds. */
export interface BanRecord {
  readonly refusals: number;
  readonly refusalWindowStartMs: number;
  readonly offences: number;
  readonly lastOffenceMs: number;
  /** 0 when not banned. */
  readonly bannedUntilMs: number;
}

export type BanStatus =
  | { readonly banned: false }
  | { readonly banned: true; readonly untilMs: number; readonly retryAfterMs: number };

export interface RefusalOutcome {
  readonly record: BanRecord;
  /** Set when this refusal started a ban. */
  readonly ban?: {
    readonly durationMs: number;
    readonly untilMs: number;
    readonly offence: number;
  };
}

const EMPTY: BanRecord = {
  refusals: 0,
  refusalWindowStartMs: 0,
  offences: 0,
  lastOffenceMs: 0,
  bannedUntilMs: 0,
};

/** Whether the prefix is banned at `nowMs`. */
export function banStatus(record: BanRecord | undefined, nowMs: number): BanStatus {
  if (record === undefined || record.bannedUntilMs <= nowMs) return { banned: false };
  return {
    banned: true,
    untilMs: record.bannedUntilMs,
    retryAfterMs: record.bannedUntilMs - nowMs,
  };
}

/** Offences still remembered at `nowMs` after decay. */
export function rememberedOffences(record: BanRecord, nowMs: number, policy: BanPolicy): number {
  if (record.offences === 0) return 0;
  const forgotten = Math.floor((nowMs - record.lastOffenceMs) / policy.offenceMemoryMs);
  return Math.max(0, record.offences - Math.max(0, forgotten));
}

/** Ban length for the n-th remembered offence (1-based). */
export function banDurationMs(offence: number, policy: BanPolicy): number {
  // 2^40 already exceeds any sane cap; bounding the exponent keeps the arithmetic finite.
  const factor = 2 ** Math.min(Math.max(offence - 1, 0), 40);
  return Math.min(policy.firstBanMs * factor, policy.maxBanMs);
}

/** Records one 429 refusal of the prefix at `nowMs`; may start a ban. */
export function recordRefusal(
  record: BanRecord | undefined,
  nowMs: number,
  policy: BanPolicy = DEFAULT_BAN_POLICY,
): RefusalOutcome {
  const current = record ?? EMPTY;
  const windowOpen =
    current.refusals > 0 && nowMs - current.refusalWindowStartMs < policy.refusalWindowMs;
  const refusals = windowOpen ? current.refusals + 1 : 1;
  const refusalWindowStartMs = windowOpen ? current.refusalWindowStartMs : nowMs;
  if (refusals < policy.refusalThreshold) {
    return { record: { ...current, refusals, refusalWindowStartMs } };
  }
  return offence(current, nowMs, policy);
}

/**
 * An offence at `nowMs`: the ban of the next escalation level after the offences still
 * remembered, and a fresh refusal window. Reached by `refusalThreshold` refusals counted on this
 * node (recordRefusal) or across the cluster (addRefusals).
 */
export function offence(
  record: BanRecord | undefined,
  nowMs: number,
  policy: BanPolicy = DEFAULT_BAN_POLICY,
): Required<RefusalOutcome> {
  const current = record ?? EMPTY;
  const offences = rememberedOffences(current, nowMs, policy) + 1;
  const durationMs = banDurationMs(offences, policy);
  const untilMs = Math.max(current.bannedUntilMs, nowMs + durationMs);
  return {
    record: {
      refusals: 0,
      refusalWindowStartMs: nowMs,
      offences,
      lastOffenceMs: nowMs,
      bannedUntilMs: untilMs,
    },
    ban: { durationMs, untilMs, offence: offences },
  };
}

/**
 * A prefix's refusals counted across the nodes of a cluster: each node adds the refusals it
 * answered since its last report. The same fixed window as on one node (opened by the first
 * refusal, `refusalWindowMs` long), so that a client spreading its requests over N nodes is
 * banned after as many refusals as on one, not up to N times as many.
 */
export interface SharedRefusalWindow {
  readonly count: number;
  readonly startMs: number;
}

/**
 * Adds a node's `count` refusals at `nowMs` to the shared window. When the sum reaches the
 * threshold the window is emptied (`window` undefined) and this addition is the offence: of the
 * nodes adding to one window, exactly one is told. `count` is at least 1.
 */
export function addRefusals(
  window: SharedRefusalWindow | undefined,
  count: number,
  nowMs: number,
  policy: Pick<BanPolicy, 'refusalThreshold' | 'refusalWindowMs'>,
): { readonly window: SharedRefusalWindow | undefined; readonly offence: boolean } {
  const open =
    window !== undefined && window.count > 0 && nowMs - window.startMs < policy.refusalWindowMs;
  const total = (open ? window.count : 0) + count;
  if (total >= policy.refusalThreshold) return { window: undefined, offence: true };
  return { window: { count: total, startMs: open ? window.startMs : nowMs }, offence: false };
}

/** Where a cluster's nodes add their refusals (Redis; memory for one process and tests). */
export interface SharedRefusals {
  /**
   * Adds each prefix's refusals (`counts`: prefix → refusals since the last report, each ≥ 1)
   * at `nowMs`; resolves with the prefixes for which this addition made an offence.
   */
  add(
    environment: Environment,
    counts: ReadonlyMap<string, number>,
    nowMs: number,
    policy: Pick<BanPolicy, 'refusalThreshold' | 'refusalWindowMs'>,
  ): Promise<string[]>;
}

/** Longest IP prefix a ban shared between nodes may name (an IPv6 /64 with its length is < 30). */
export const MAX_BAN_PREFIX_CHARS = 64;

/** Whether `prefix` can name a ban shared between nodes (change events, the kept bans). */
export function isBanPrefix(prefix: unknown): prefix is string {
  return typeof prefix === 'string' && prefix.length > 0 && prefix.length <= MAX_BAN_PREFIX_CHARS;
}

/**
 * A ban read from outside the process (another node's announcement, Redis), or undefined when
 * any field is not what a node writes: a prefix, a finite end, an offence count of at least 1.
 */
export function sharedBanOf(
  prefix: unknown,
  untilMs: unknown,
  offences: unknown,
): { prefix: string; untilMs: number; offences: number } | undefined {
  if (!isBanPrefix(prefix) || typeof untilMs !== 'number' || !Number.isFinite(untilMs)) return;
  if (typeof offences !== 'number' || !Number.isSafeInteger(offences) || offences < 1) return;
  return { prefix, untilMs, offences };
}

/**
 * Applies a ban another node decided (a cluster shares its bans): the prefix is banned until the
 * later of both ends, and remembers at least that node's offence count, so that its next offence
 * here escalates from there. A ban already over at `nowMs` changes nothing.
 */
export function imposeBan(
  record: BanRecord | undefined,
  ban: { readonly untilMs: number; readonly offences: number },
  nowMs: number,
  policy: BanPolicy = DEFAULT_BAN_POLICY,
): BanRecord | undefined {
  if (ban.untilMs <= nowMs) return record;
  const current = record ?? EMPTY;
  return {
    refusals: 0,
    refusalWindowStartMs: nowMs,
    offences: Math.max(rememberedOffences(current, nowMs, policy), ban.offences),
    lastOffenceMs: nowMs,
    bannedUntilMs: Math.max(current.bannedUntilMs, ban.untilMs),
  };
}

/**
 * Lifts a ban (admin action). `forgive` also clears the offence history, so the next offence
 * starts again at `firstBanMs`; without it the prefix keeps its escalation level.
 */
export function liftBan(record: BanRecord, forgive = false): BanRecord {
  return forgive ? EMPTY : { ...record, bannedUntilMs: 0, refusals: 0 };
}

/** True when the record carries nothing that can matter at `nowMs` (it can be dropped). */
export function isBanRecordIdle(record: BanRecord, nowMs: number, policy: BanPolicy): boolean {
  return (
    record.bannedUntilMs <= nowMs &&
    rememberedOffences(record, nowMs, policy) === 0 &&
    (record.refusals === 0 || nowMs - record.refusalWindowStartMs >= policy.refusalWindowMs)
  );
}
