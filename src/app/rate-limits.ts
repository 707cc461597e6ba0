/**
 * Composition of the rate-limit pieces: one limiter, ban store and failure-block list per
 * environment (memory, or Redis shared by every node), the audit queue for bans decided on the
 * hot path, and the admin operations on bans. Bans are held in each node's memory (checked
 * before any verification work, without a round trip) and announced on the change events, so
 * that in a cluster a ban decided on one node, or lifted through any node, holds on all; with
 * Redis limits they are also kept in Redis, where a node that starts later finds them, and the
 * 429s that lead to a ban are counted across the nodes too (services/refusal-reporter.ts).
 */
import { Redis } from '../adapters/redis/ioredis.js';
import type { Logger } from 'pino';
import { createMemoryBanStore, type MemoryBanStore } from '../adapters/memory/ban-store.js';
import { createMemoryRateLimiter } from '../adapters/memory/rate-limiter.js';
import { createRedisBanRecords, type BanRecords } from '../adapters/redis/ban-records.js';
import { createRedisSharedRefusals } from '../adapters/redis/shared-refusals.js';
import {
  createRedisRateLimiter,
  REDIS_LIMITER_CLIENT_OPTIONS,
} from '../adapters/redis/rate-limiter.js';
import { batchedScriptClient } from '../adapters/redis/write-batching.js';
import type { Config, EnvironmentConfig } from '../config/config.js';
import type { AuditEntry } from '../core/audit/audit-chain.js';
import type { Clock } from '../core/clock.js';
import type { Environment } from '../core/keys/model.js';
import { isBanPrefix, sharedBanOf } from '../core/limits/bans.js';
import { createFailureBlocks } from '../core/limits/failure-blocks.js';
import type { BanBook, BanEvent, PipelineLimits } from '../core/limits/limit-step.js';
import { createRequestLimits } from '../core/limits/request-limits.js';
import type { RateLimiter } from '../core/limits/types.js';
import type { ChangeEvent, ChangeEvents, ControlStore } from '../ports.js';
import { createRefusalReporter, type RefusalReporter } from '../services/refusal-reporter.js';
import { replayKeyPrefixOf } from './cluster.js';

/** One active ban as the admin API shows it. */
export interface BanView {
  readonly environment: Environment;
  readonly prefix: string;
  readonly untilMs: number;
  readonly offences: number;
}

export interface RateLimitRuntime {
  /** The pipeline's limit deps for an environment; undefined when its limits are disabled. */
  forEnvironment(env: EnvironmentConfig): PipelineLimits | undefined;
  listBans(): BanView[];
  /** Lifts the ban on `prefix` (in every environment); returns the environments it was lifted in. */
  liftBan(
    prefix: string,
    forgive: boolean,
    ctx: { actor: string; requestId: string },
  ): Promise<Environment[]>;
  /**
   * Applies a ban or a lift read from the audit feed (`ban.create` with its environment,
   * `ban.lift`): how a node whose change events were lost learns them (src/app/cluster-sync.ts).
   * Idempotent; entries of other actions, and older `ban.create` entries without an
   * environment, change nothing.
   */
  applyAudit(entry: AuditEntry): void;
  /** Re-reads the bans kept in Redis (after lost change events); nothing without Redis limits. */
  reloadBans(): Promise<void>;
  /** Waits (at most `timeoutMs`) for Redis to be connected, so the first requests find it. */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Lifts and ban decisions remembered per node (applyAudit): far more than an operator lifts, or
 * the cluster bans, within one pass of the audit feed.
 */
const MAX_REMEMBERED_TIMES = 10_000;

/**
 * The latest time noted per environment and prefix, at most MAX_REMEMBERED_TIMES of them (the
 * least recently noted is forgotten first); -Infinity for one never noted or forgotten.
 */
function latestTimes() {
  const times = new Map<string, number>();
  const keyOf = (environment: Environment, prefix: string) => `${environment}\u0000${prefix}`;
  return {
    note(environment: Environment, prefix: string, atMs: number): void {
      const key = keyOf(environment, prefix);
      const latest = Math.max(atMs, times.get(key) ?? -Infinity);
      times.delete(key);
      times.set(key, latest);
      if (times.size > MAX_REMEMBERED_TIMES) times.delete(times.keys().next().value as string);
    },
    get: (environment: Environment, prefix: string): number =>
      times.get(keyOf(environment, prefix)) ?? -Infinity,
  };
}

/** Builds the limiters for `config` (Redis only when `rateLimits.backend` is `redis`). */
export function createRateLimitRuntime(
  config: Config,
  deps: {
    clock: Clock;
    logger: Logger;
    store: ControlStore;
    /** Told of every ban decided on the hot path (the `portcullis_bans_total` counter). */
    onBan?: (environment: Environment) => void;
    /** Where bans and lifts are announced to the other nodes (and heard from them). */
    events?: ChangeEvents;
  },
): RateLimitRuntime {
  const { clock, logger, store, events } = deps;
  const banStores = new Map<Environment, MemoryBanStore>();
  /**
   * When each prefix was last lifted here: a ban read from the audit feed that was decided
   * before it is the one lifted, not a new one (applyAudit).
   */
  const lifts = latestTimes();
  /**
   * When the latest ban this node knows of each prefix was decided (the deciding node's clock):
   * a lift read from the audit feed that is older than it lifted an earlier ban, not this one.
   * A node whose feed pass lags reached such a lift after the new ban's event, and used to lift
   * the new ban until its next pass re-read it.
   */
  const decided = latestTimes();
  /** Bans and lifts decided elsewhere in the cluster (own announcements are idempotent here). */
  const unsubscribe = events?.subscribe((event: ChangeEvent) => {
    if (event.type !== 'ban.imposed' && event.type !== 'ban.lifted') return;
    const bans = banStores.get(event.environment);
    if (bans === undefined) return;
    if (event.type === 'ban.imposed') {
      bans.impose(event.prefix, event, clock.now());
      if (event.decidedAtMs !== undefined)
        decided.note(event.environment, event.prefix, event.decidedAtMs);
    } else {
      lifts.note(event.environment, event.prefix, clock.now());
      bans.lift(event.prefix, clock.now(), event.forgive);
    }
  });
  let redis: Redis | undefined;
  const settings = config.rateLimits;
  if (settings.backend === 'redis' && config.redis !== null) {
    redis = new Redis(config.redis, { ...REDIS_LIMITER_CLIENT_OPTIONS, lazyConnect: false });
    // ioredis reconnects by itself; the limiter's mode change is what gets logged.
    redis.on('error', () => undefined);
  }
  // One script call per request: those of one event-loop turn leave in one socket write.
  const scripts = redis === undefined ? undefined : batchedScriptClient(redis);
  const banRecords: BanRecords | undefined =
    redis === undefined
      ? undefined
      : createRedisBanRecords(redis, { keyPrefix: settings.keyPrefix });

  // Refusals counted across the nodes: an offence the cluster decides is banned here.
  const refusals: RefusalReporter | undefined =
    redis === undefined
      ? undefined
      : createRefusalReporter({
          shared: createRedisSharedRefusals(redis, { keyPrefix: settings.keyPrefix }),
          clock,
          onOffence(environment, prefix, nowMs) {
            const ban = banStores.get(environment)?.offend(prefix, nowMs);
            if (ban !== undefined) queueBan(environment, { prefix, nowMs, ...ban });
          },
          onError: (error) =>
            logger.warn(
              { err: error },
              'could not count refusals across the cluster; this node counts its own for a while',
            ),
        });

  // Bans decided on the hot path are audited (and kept in Redis) off it: queued, written on the
  // next turn.
  const pending: { environment: Environment; event: BanEvent }[] = [];
  let flushing: Promise<void> | undefined;
  async function flush(): Promise<void> {
    while (pending.length > 0) {
      const next = pending.shift();
      if (next === undefined) break;
      const { environment, event } = next;
      try {
        await store.appendAudit({
          ts: event.nowMs,
          actor: 'system',
          action: 'ban.create',
          target: event.prefix,
          requestId: 'rate-limit',
          data: {
            environment,
            untilMs: event.untilMs,
            durationMs: event.durationMs,
            offence: event.offence,
          },
        });
      } catch (error) {
        logger.error({ err: error, prefix: event.prefix }, 'could not audit a ban');
      }
      try {
        await banRecords?.save(
          environment,
          { prefix: event.prefix, untilMs: event.untilMs, offences: event.offence },
          clock.now(),
        );
      } catch (error) {
        logger.warn({ err: error, prefix: event.prefix }, 'could not keep a ban in Redis');
      }
    }
    flushing = undefined;
  }
  function queueBan(environment: Environment, event: BanEvent): void {
    deps.onBan?.(environment);
    logger.warn({ environment, prefix: event.prefix, untilMs: event.untilMs }, 'ip prefix banned');
    decided.note(environment, event.prefix, event.nowMs);
    events?.publish({
      type: 'ban.imposed',
      environment,
      prefix: event.prefix,
      untilMs: event.untilMs,
      offences: event.offence,
      decidedAtMs: event.nowMs,
    });
    if (pending.length >= 10_000) return; // a flood of bans: the log line above still says it
    pending.push({ environment, event });
    flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(flush);
  }

  /** Bans decided while this node was not running, from Redis (best effort). */
  async function loadBans(): Promise<void> {
    for (const [environment, bans] of banStores) {
      try {
        const nowMs = clock.now();
        for (const ban of (await banRecords?.load(environment, nowMs)) ?? []) {
          bans.impose(ban.prefix, ban, nowMs);
        }
      } catch (error) {
        logger.warn({ err: error, environment }, 'could not load the bans kept in Redis');
      }
    }
  }

  function limiterFor(env: EnvironmentConfig): RateLimiter {
    if (scripts === undefined) return createMemoryRateLimiter();
    return createRedisRateLimiter(
      { redis: scripts },
      {
        keyPrefix: `${settings.keyPrefix}${env.name}:`,
        onRedisDown: settings.onRedisDown,
        // The cluster's replay guard is on this Redis too (src/app/cluster.ts, same prefix): an
        // allowed request records its nonce in the limiter's script, one round trip instead of two.
        ...(config.cluster.replay === 'redis'
          ? { replayKeyPrefix: replayKeyPrefixOf(config) }
          : {}),
        nodeCount: settings.nodeCount,
        onModeChange: (status) =>
          logger.warn(
            { environment: env.name, mode: status.mode, error: status.lastError },
            'rate limiter mode changed',
          ),
      },
    );
  }

  return {
    forEnvironment(env) {
      if (!env.limits.enabled) return undefined;
      const bans = createMemoryBanStore({ policy: env.limits.bans });
      banStores.set(env.name, bans);
      const policy = env.limits.bans;
      // Every 429 is counted here (a flood on this node is banned at once) and, in a cluster,
      // reported to the shared windows as well.
      const book: BanBook =
        refusals === undefined
          ? bans
          : {
              status: (prefix, nowMs) => bans.status(prefix, nowMs),
              recordRefusal(prefix, nowMs) {
                refusals.note(env.name, prefix, policy);
                return bans.recordRefusal(prefix, nowMs);
              },
            };
      return {
        rules: createRequestLimits(env.limits),
        limiter: limiterFor(env),
        bans: book,
        failureBlocks: createFailureBlocks(),
        onBan: (event) => queueBan(env.name, event),
      };
    },
    listBans() {
      const nowMs = clock.now();
      const all: BanView[] = [];
      for (const [environment, bans] of banStores) {
        for (const ban of bans.list(nowMs)) all.push({ environment, ...ban });
      }
      return all.sort((a, b) => a.untilMs - b.untilMs);
    },
    async liftBan(prefix, forgive, ctx) {
      const nowMs = clock.now();
      const lifted: Environment[] = [];
      for (const [environment, bans] of banStores) {
        lifts.note(environment, prefix, nowMs);
        let held = bans.lift(prefix, nowMs, forgive);
        // Announced even when this node held no ban: another node may (one started later).
        events?.publish({ type: 'ban.lifted', environment, prefix, forgive });
        try {
          // A ban kept in Redis is one the cluster held, even if this node did not know it.
          if ((await banRecords?.remove(environment, prefix, nowMs)) === true) held = true;
        } catch (error) {
          logger.warn({ err: error, prefix }, 'could not remove a lifted ban from Redis');
        }
        if (held) lifted.push(environment);
      }
      if (lifted.length > 0) {
        await store.appendAudit({
          ts: nowMs,
          actor: ctx.actor,
          action: 'ban.lift',
          target: prefix,
          requestId: ctx.requestId,
          data: { environments: lifted, forgive },
        });
      }
      return lifted;
    },
    applyAudit(entry) {
      // Read as untrusted: an entry is whatever a node of any version appended.
      const data = entry.data as Record<string, unknown> | null;
      if (typeof data !== 'object' || data === null) return;
      const nowMs = clock.now();
      if (entry.action === 'ban.create') {
        const environment = data['environment'] as Environment;
        const bans = banStores.get(environment);
        const ban = sharedBanOf(entry.target, data['untilMs'], data['offence']);
        if (bans === undefined || ban === undefined) return;
        // Read after its lift (a pass that reached the ban's entry only now): not a new ban.
        if (entry.ts <= lifts.get(environment, ban.prefix)) return;
        bans.impose(ban.prefix, ban, nowMs);
        decided.note(environment, ban.prefix, entry.ts);
      } else if (entry.action === 'ban.lift' && Array.isArray(data['environments'])) {
        const prefix = entry.target;
        if (!isBanPrefix(prefix)) return;
        for (const environment of data['environments'] as Environment[]) {
          const bans = banStores.get(environment);
          if (bans === undefined) continue;
          lifts.note(environment, prefix, entry.ts);
          // Read after a newer ban (its event came first): the lift was of an earlier one.
          if (decided.get(environment, prefix) > entry.ts) continue;
          bans.lift(prefix, nowMs, data['forgive'] === true);
        }
      }
    },
    reloadBans: loadBans,
    async ready(timeoutMs = 2_000) {
      const client = redis;
      if (client === undefined) return;
      if (client.status !== 'ready') {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          client.once('ready', done);
          client.once('error', done); // down: onRedisDown applies from the first request on
        });
      }
      if (client.status === 'ready') await loadBans();
    },
    async close() {
      unsubscribe?.();
      await refusals?.close();
      await flushing;
      redis?.disconnect();
    },
  };
}
