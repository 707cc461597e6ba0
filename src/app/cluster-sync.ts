/**
 * Bounded staleness for the caches of a cluster node.
 *
 * Change events (Redis pub/sub) are fast but at-most-once, so they are not the only source:
 * every key and policy change is committed in the same transaction as its audit entry, and the
 * audit log is append-only with an increasing `seq` (one writer at a time holds its head), so
 * the log after the last entry this node has read is a complete, ordered change feed. Every
 * `revalidateIntervalMs` the node reads it and drops what changed.
 *
 * The key cache is trusted only while the event subscription is live AND the last complete read
 * of the feed started less than `maxStalenessMs` ago; otherwise every key lookup reads the store.
 * (While the store is down no change can be committed anywhere, so a node with live events keeps
 * serving its cache through a short store outage, up to `maxStalenessMs`.)
 * When the subscription comes back after a loss, every cached key is dropped once (what was
 * published meanwhile never arrives) and the policy set is re-read.
 *
 * Anomaly responses (step-downs, disables, bans) follow the policies: the shared risk tables
 * are re-read on a `risk.changed` event, on every `risk.*` or `alert.*` entry of the feed, on
 * every pass while events are down, and when events come back after a loss.
 *
 * Rate-limit bans (`ban.create`, `ban.lift` entries) are applied from the feed as they come, so
 * that a ban or a lift announced while this node's subscription was down holds here within one
 * interval too; after a backlog too long to read, and when events come back after a loss, the
 * bans kept in Redis are re-read instead.
 */
import type { Clock } from '../core/clock.js';
import type { AuditEntry } from '../core/audit/audit-chain.js';
import type { ChangeEvent, ControlStore } from '../ports.js';
import type { KeyCache } from '../services/key-cache.js';

export interface ClusterSyncDeps {
  readonly feed: Pick<ControlStore, 'listAudit'>;
  readonly keyCache: Pick<KeyCache, 'invalidate' | 'setTrusted'>;
  /** The node's policy set; absent when the store has no governance tables. */
  readonly policies?: { reload(): Promise<unknown> } | undefined;
  /** The node's responses in force (src/services/risk-service.ts); absent without a shared store. */
  readonly risk?: { reload(): Promise<unknown> } | undefined;
  /**
   * The node's rate-limit bans (src/app/rate-limits.ts): `apply` takes a `ban.*` audit entry,
   * `reload` re-reads the bans kept in Redis. Absent when limits are off.
   */
  readonly bans?: { apply(entry: AuditEntry): void; reload(): Promise<unknown> } | undefined;
  readonly clock: Clock;
  /** A feed read or a policy reload that failed (the store is unreachable). */
  readonly onError?: (error: Error) => void;
  /** Called when the key cache stops or starts being trusted. */
  readonly onTrust?: (trusted: boolean) => void;
}

export interface ClusterSyncOptions {
  readonly revalidateIntervalMs: number;
  /** Longest time since the last complete feed read during which the cache is still trusted. */
  readonly maxStalenessMs: number;
  /** Audit entries read per query. Default 500. */
  readonly pageSize?: number;
  /** Pages read in one pass; a longer backlog drops every cached key instead. Default 20. */
  readonly maxPages?: number;
}

export interface ClusterSyncStats {
  readonly trusted: boolean;
  readonly eventsLive: boolean;
  /** The last audit seq applied (undefined before the head was found). */
  readonly lastSeq: number | undefined;
  /** When the last complete feed read started (epoch ms), if any. */
  readonly validatedAt: number | undefined;
  readonly invalidations: number;
  readonly failures: number;
}

export interface ClusterSync {
  /** Finds the head of the feed and re-reads policies; call once before serving traffic. */
  start(eventsLive: boolean): Promise<void>;
  /** The event subscription went up (`true`) or down. */
  eventsStatus(live: boolean): void;
  /** Applies an event from the bus (key events reach the key cache on their own). */
  handle(event: ChangeEvent): void;
  /** One pass over the feed (what the interval timer runs); never rejects. */
  revalidate(): Promise<void>;
  stats(): ClusterSyncStats;
}

interface FeedChanges {
  readonly policiesChanged: boolean;
  readonly riskChanged: boolean;
}
/** The feed could not be read entry by entry (first pass, long backlog): re-read everything. */
const EVERYTHING: FeedChanges = { policiesChanged: true, riskChanged: true };

const DEFAULT_PAGE_SIZE = 500;
const DEFAULT_MAX_PAGES = 20;

/** Creates the sync of one node; the caller runs `revalidate` every interval. */
export function createClusterSync(deps: ClusterSyncDeps, options: ClusterSyncOptions): ClusterSync {
  const { feed, keyCache, clock } = deps;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
  const horizonMs = options.maxStalenessMs;
  let eventsLive = false;
  // Before the first confirmed subscription nothing is known to have arrived.
  let eventsLost = true;
  let trusted = true;
  let lastSeq: number | undefined;
  let validatedAt: number | undefined;
  let running: Promise<void> | undefined;
  let invalidations = 0;
  let failures = 0;

  const report = (error: unknown) => {
    failures += 1;
    deps.onError?.(error instanceof Error ? error : new Error('cluster sync failed'));
  };

  function checkTrust(): void {
    const next = eventsLive && validatedAt !== undefined && clock.now() - validatedAt < horizonMs;
    if (next === trusted) return;
    trusted = next;
    keyCache.setTrusted(next);
    deps.onTrust?.(next);
  }

  function dropAll(): void {
    invalidations += 1;
    keyCache.invalidate();
  }

  /** Reads the feed from `lastSeq`; returns whether a policy or a risk response changed. */
  async function readFeed(): Promise<FeedChanges> {
    if (lastSeq === undefined) {
      lastSeq = await auditHead(feed);
      dropAll();
      return EVERYTHING;
    }
    let policiesChanged = false;
    let riskChanged = false;
    for (let page = 0; page < maxPages; page++) {
      const entries: AuditEntry[] = await feed.listAudit({ afterSeq: lastSeq, limit: pageSize });
      for (const entry of entries) {
        if (entry.action.startsWith('key.')) {
          invalidations += 1;
          keyCache.invalidate(entry.target);
        } else if (entry.action.startsWith('policy.')) {
          policiesChanged = true;
        } else if (entry.action.startsWith('risk.') || entry.action.startsWith('alert.')) {
          riskChanged = true;
        } else if (entry.action.startsWith('ban.')) {
          deps.bans?.apply(entry);
        }
        lastSeq = entry.seq;
      }
      if (entries.length < pageSize) return { policiesChanged, riskChanged };
    }
    // A backlog this long (a node cut off for a while): start over from the head.
    lastSeq = await auditHead(feed, lastSeq);
    dropAll();
    deps.bans?.reload().catch(report);
    return EVERYTHING;
  }

  async function pass(): Promise<void> {
    const startedAt = clock.now();
    checkTrust();
    try {
      const { policiesChanged, riskChanged } = await readFeed();
      // While events are down a change would only be seen here: re-read on every pass.
      if (deps.policies && (policiesChanged || !eventsLive)) await deps.policies.reload();
      if (deps.risk && (riskChanged || !eventsLive)) await deps.risk.reload();
      validatedAt = startedAt;
    } catch (error) {
      report(error);
    }
    checkTrust();
  }

  return {
    async start(live) {
      eventsLive = live;
      eventsLost = !live;
      validatedAt = undefined;
      await pass();
    },

    eventsStatus(live) {
      if (!live) {
        eventsLive = false;
        eventsLost = true;
        checkTrust();
        return;
      }
      eventsLive = true;
      if (eventsLost) {
        // Whatever was published while the subscription was down is lost: start from empty.
        eventsLost = false;
        dropAll();
        deps.policies?.reload().catch(report);
        deps.risk?.reload().catch(report);
        deps.bans?.reload().catch(report);
      }
      checkTrust();
    },

    handle(event) {
      if (event.type === 'policy.changed') deps.policies?.reload().catch(report);
      else if (event.type === 'risk.changed') deps.risk?.reload().catch(report);
    },

    revalidate() {
      checkTrust();
      // One pass at a time; a pass stuck on the store still lets the horizon above expire trust.
      running ??= pass().finally(() => {
        running = undefined;
      });
      return running;
    },

    stats: () => ({
      trusted,
      eventsLive,
      lastSeq,
      validatedAt,
      invalidations,
      failures,
    }),
  };
}

/**
 * The highest audit seq, found with O(log n) one-row queries (the port has no "last entry"
 * query). `listAudit` after `x` answers the first seq above `x`, which is monotone in `x`, so
 * gaps in the numbering do not matter.
 */
export async function auditHead(
  feed: Pick<ControlStore, 'listAudit'>,
  knownAtLeast = 0,
): Promise<number> {
  const firstAfter = async (seq: number) =>
    (await feed.listAudit({ afterSeq: seq, limit: 1 }))[0]?.seq;
  const first = await firstAfter(knownAtLeast);
  if (first === undefined) return knownAtLeast;
  // Invariant from here: an entry `low` exists, so the head is at least `low`.
  let low = first;
  let high: number;
  for (let step = 1; ; step *= 2) {
    const found = await firstAfter(low + step);
    if (found === undefined) {
      high = low + step;
      break;
    }
    low = found;
  }
  // The head is in [low, high]: nothing exists after `high`.
  while (high > low) {
    const mid = Math.floor((low + high) / 2);
    const found = await firstAfter(mid);
    if (found === undefined) high = mid;
    else low = found;
  }
  return low;
}
