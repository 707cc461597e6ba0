/**
 * Cluster mode, chosen when `redis` is configured: change events over Redis pub/sub (every
 * node applies every other node's key and policy changes), the shared Redis replay guard, and
 * the periodic re-validation that bounds cache staleness when an event is lost
 * (src/app/cluster-sync.ts). Without `redis`, events stay in-process and replay stays in memory.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from '../adapters/redis/ioredis.js';
import type { Logger } from 'pino';
import { createRedisChangeEvents } from '../adapters/redis/change-events.js';
import { createRedisLease } from '../adapters/redis/lease.js';
import { createRedisReplayGuard, REDIS_FAIL_FAST_OPTIONS } from '../adapters/redis/replay-guard.js';
import { createRedisSharedRiskWindows } from '../adapters/redis/shared-risk-windows.js';
import { batchedSetNxClient } from '../adapters/redis/write-batching.js';
import type { Config } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import type { ReplayGuard } from '../core/replay/replay-guard.js';
import type { SharedRiskWindows } from '../core/risk/shared-windows.js';
import type { ChangeEvents, ControlStore } from '../ports.js';
import type { KeyCache } from '../services/key-cache.js';
import {
  createClusterSync,
  type ClusterSync,
  type ClusterSyncDeps,
  type ClusterSyncStats,
} from './cluster-sync.js';
import { createLocalEvents } from './local-events.js';

export interface ClusterTargets {
  readonly store: Pick<ControlStore, 'listAudit'>;
  readonly keyCache: KeyCache;
  readonly policies?: { reload(): Promise<unknown> } | undefined;
  /** The node's anomaly responses in force, re-read when another node changes them. */
  readonly risk?: { reload(): Promise<unknown> } | undefined;
  /** The node's rate-limit bans, kept up with the audit feed (cluster-sync.ts). */
  readonly bans?: ClusterSyncDeps['bans'];
}

export interface ClusterRuntime {
  readonly events: ChangeEvents;
  /** The shared replay guard; undefined without `redis` (the node keeps its own in memory). */
  readonly replay: ReplayGuard | undefined;
  /**
   * A named lease shared by the nodes (`<cluster.keyPrefix>lease:<name>` on Redis), for work one
   * node should do per interval; undefined without `redis` (a single node always holds it).
   */
  readonly lease: ((name: string, ttlMs: number) => Promise<boolean>) | undefined;
  /**
   * The failure windows every node adds its denials to (`<cluster.keyPrefix>risk:`), so that
   * failure bursts and key sprays are seen across nodes; undefined without `redis`.
   */
  readonly riskWindows: SharedRiskWindows | undefined;
  /** Before traffic: waits (bounded) for Redis, finds the change feed's head, starts re-validating. */
  start(targets: ClusterTargets): Promise<void>;
  stats(): ClusterSyncStats | undefined;
  close(): Promise<void>;
}

/**
 * Where the shared replay guard keeps its ids; the Redis limiter records ids under the same
 * prefix when it takes an allowed request's limits (src/app/rate-limits.ts).
 */
export const replayKeyPrefixOf = (config: Config): string => `${config.cluster.keyPrefix}replay:`;

/** Reconnect quickly and forever: replay checks are refused until Redis is back. */
const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 1000);
const READY_TIMEOUT_MS = 2_000;

/** Builds the cluster pieces for `config` (in-process ones when `redis` is not set). */
export function createClusterRuntime(
  config: Config,
  deps: {
    clock: Clock;
    logger: Logger;
    /** Delay from publication on another node to delivery here (portcullis_event_lag_seconds). */
    onEventLag?: (eventType: string, seconds: number) => void;
  },
): ClusterRuntime {
  const url = config.redis;
  if (url === null) {
    return {
      events: createLocalEvents(),
      replay: undefined,
      lease: undefined,
      riskWindows: undefined,
      start: () => Promise.resolve(),
      stats: () => undefined,
      close: () => Promise.resolve(),
    };
  }
  const { clock, logger } = deps;
  const prefix = config.cluster.keyPrefix;
  let sync: ClusterSync | undefined;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  const events = createRedisChangeEvents(
    { url },
    {
      channel: `${prefix}changes`,
      onStatus: (status) => {
        if (status === 'disconnected')
          logger.warn('change events lost: key lookups read the store until they are back');
        else logger.info('change events connected');
        sync?.eventsStatus(status === 'connected');
      },
      onError: (error) => logger.debug({ err: error }, 'change events error'),
      onLag: (event, lagMs) => deps.onEventLag?.(event.type, Math.max(0, lagMs) / 1000),
    },
  );

  // A single node that uses Redis only for its rate limits may keep replay protection in memory
  // (cluster.replay: memory); several nodes must share it, or a request replays on another node.
  const replayClient =
    config.cluster.replay === 'redis' ? openReplayClient(url, logger) : undefined;
  const replay =
    replayClient === undefined
      ? undefined
      : createRedisReplayGuard(
          // One SET NX per signed request: those of one event-loop turn leave in one write.
          { redis: batchedSetNxClient(replayClient) },
          { keyPrefix: replayKeyPrefixOf(config) },
        );

  // Leases ride on the replay connection when there is one; otherwise on one of their own, opened
  // on first use (the governance job asks once per interval).
  let leaseClient: Redis | undefined = replayClient;
  const holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const lease = (name: string, ttlMs: number): Promise<boolean> => {
    if (leaseClient === undefined) {
      // Queued until connected (bounded by the timeout): a lease is asked rarely, and the first
      // ask must not fail only because the connection is still opening.
      leaseClient = new Redis(url, {
        commandTimeout: 2_000,
        maxRetriesPerRequest: 1,
        retryStrategy,
      });
      leaseClient.on('error', () => undefined); // a lease not granted is the answer
    }
    return createRedisLease(
      { redis: leaseClient },
      { key: `${prefix}lease:${name}`, holder },
    )(ttlMs);
  };

  // The risk monitor's shared windows, on a connection of their own that fails fast (the
  // monitor then decides on the node's own windows for a while).
  const riskClient = new Redis(url, {
    ...REDIS_FAIL_FAST_OPTIONS,
    retryStrategy,
    connectionName: 'portcullis-risk',
  });
  riskClient.on('error', (error) => logger.debug({ err: error }, 'risk windows redis error'));
  const riskWindows = createRedisSharedRiskWindows(
    { redis: riskClient },
    { keyPrefix: `${prefix}risk:` },
  );

  return {
    events,
    replay,
    lease,
    riskWindows,
    async start(targets) {
      await Promise.all([
        events.ready(READY_TIMEOUT_MS),
        replayClient === undefined ? undefined : clientReady(replayClient),
        clientReady(riskClient),
      ]);
      const current = createClusterSync(
        {
          feed: targets.store,
          keyCache: targets.keyCache,
          policies: targets.policies,
          risk: targets.risk,
          bans: targets.bans,
          clock,
          onError: (error) => logger.warn({ err: error }, 'cluster re-validation failed'),
          onTrust: (trusted) =>
            logger.warn(
              { trusted },
              trusted ? 'key cache trusted again' : 'key cache not trusted: reading the store',
            ),
        },
        {
          revalidateIntervalMs: config.cluster.revalidateIntervalMs,
          maxStalenessMs: config.cluster.maxStalenessMs,
        },
      );
      sync = current;
      unsubscribe = events.subscribe((event) => current.handle(event));
      await current.start(events.connected());
      timer = setInterval(() => void current.revalidate(), config.cluster.revalidateIntervalMs);
      timer.unref();
    },
    stats: () => sync?.stats(),
    async close() {
      clearInterval(timer);
      unsubscribe?.();
      sync = undefined;
      await events.close();
      replayClient?.disconnect();
      if (leaseClient !== replayClient) leaseClient?.disconnect();
      riskClient.disconnect();
    },
  };
}

/** Resolves once the client is ready, or after the timeout (down: requests are refused meanwhile). */
function clientReady(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timeout);
      client.off('ready', done);
      resolve();
    };
    const timeout = setTimeout(done, READY_TIMEOUT_MS);
    client.on('ready', done);
  });
}

/** The Redis connection of the shared replay guard, logging when it goes down and comes back. */
function openReplayClient(url: string, logger: Logger): Redis {
  const client = new Redis(url, {
    ...REDIS_FAIL_FAST_OPTIONS,
    retryStrategy,
    connectionName: 'portcullis-replay',
  });
  // ioredis emits 'error' on every failed (re)connect; the status changes below are what is logged.
  client.on('error', (error) => logger.debug({ err: error }, 'replay redis error'));
  let replayDown = false;
  client.on('close', () => {
    if (replayDown) return;
    replayDown = true;
    logger.warn('replay redis unreachable: signed requests are refused (REPLAY_CHECK_UNAVAILABLE)');
  });
  client.on('ready', () => {
    if (!replayDown) return;
    replayDown = false;
    logger.info('replay redis reconnected');
  });
  return client;
}
