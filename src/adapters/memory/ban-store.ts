/**
 * In-memory ban store for a single node: one BanRecord per IP prefix, bounded. At the bound,
 * idle records (no ban, no remembered offence, no open refusal window) are dropped first; if
 * that is not enough, the oldest-created records that are not currently banned go, so an
 * active ban is never forgotten to make room (new bans are still recorded beyond the bound).
 */
import {
  banStatus,
  DEFAULT_BAN_POLICY,
  imposeBan,
  isBanRecordIdle,
  liftBan,
  offence,
  recordRefusal,
  type BanPolicy,
  type BanRecord,
  type BanStatus,
  type RefusalOutcome,
} from '../../core/limits/bans.js';

export interface ActiveBan {
  readonly prefix: string;
  readonly untilMs: number;
  readonly offences: number;
}

export interface MemoryBanStore {
  /** Whether `prefix` is banned now (checked before any verification work). */
  status(prefix: string, nowMs: number): BanStatus;
  /** Records a 429 answered to `prefix`; the outcome says if a ban started (audit it). */
  recordRefusal(prefix: string, nowMs: number): RefusalOutcome;
  /** Active bans, soonest to end first. */
  list(nowMs: number): ActiveBan[];
  /** Lifts the ban on `prefix`; false if it was not banned. See liftBan for `forgive`. */
  lift(prefix: string, nowMs: number, forgive?: boolean): boolean;
  /** Applies a ban another node decided (see imposeBan); kept even beyond the bound. */
  impose(prefix: string, ban: { untilMs: number; offences: number }, nowMs: number): void;
  /**
   * An offence the cluster's shared refusals decided: bans the prefix at its next escalation
   * level and answers the ban (audit and announce it); undefined when the prefix is banned
   * already: that ban was decided for the same refusals, on this node's own count or by another
   * node, and counting the offence twice would double its length.
   */
  offend(prefix: string, nowMs: number): Required<RefusalOutcome>['ban'] | undefined;
  size(): number;
}

export interface MemoryBanStoreOptions {
  readonly policy?: BanPolicy;
  /** Default 100,000 records. */
  readonly maxRecords?: number;
}

/** Creates the bounded in-memory ban store. */
export function createMemoryBanStore(options: MemoryBanStoreOptions = {}): MemoryBanStore {
  const policy = options.policy ?? DEFAULT_BAN_POLICY;
  const maxRecords = options.maxRecords ?? 100_000;
  const records = new Map<string, BanRecord>();

  function makeRoom(nowMs: number): void {
    for (const [prefix, record] of records) {
      if (isBanRecordIdle(record, nowMs, policy)) records.delete(prefix);
    }
    const target = Math.floor(maxRecords * 0.9);
    for (const [prefix, record] of records) {
      if (records.size <= target) return;
      if (!banStatus(record, nowMs).banned) records.delete(prefix);
    }
  }

  return {
    status: (prefix, nowMs) => banStatus(records.get(prefix), nowMs),
    recordRefusal(prefix, nowMs) {
      const existing = records.get(prefix);
      if (existing === undefined && records.size >= maxRecords) makeRoom(nowMs);
      const outcome = recordRefusal(existing, nowMs, policy);
      records.set(prefix, outcome.record);
      return outcome;
    },
    list(nowMs) {
      const bans: ActiveBan[] = [];
      for (const [prefix, record] of records) {
        if (record.bannedUntilMs > nowMs) {
          bans.push({ prefix, untilMs: record.bannedUntilMs, offences: record.offences });
        }
      }
      return bans.sort((a, b) => a.untilMs - b.untilMs);
    },
    lift(prefix, nowMs, forgive = false) {
      const record = records.get(prefix);
      if (record === undefined || !banStatus(record, nowMs).banned) return false;
      records.set(prefix, liftBan(record, forgive));
      return true;
    },
    impose(prefix, ban, nowMs) {
      const existing = records.get(prefix);
      if (existing === undefined && records.size >= maxRecords) makeRoom(nowMs);
      const record = imposeBan(existing, ban, nowMs, policy);
      if (record !== undefined) records.set(prefix, record);
    },
    offend(prefix, nowMs) {
      const existing = records.get(prefix);
      if (banStatus(existing, nowMs).banned) return undefined;
      if (existing === undefined && records.size >= maxRecords) makeRoom(nowMs);
      const outcome = offence(existing, nowMs, policy);
      records.set(prefix, outcome.record);
      return outcome.ban;
    },
    size: () => records.size,
  };
}
