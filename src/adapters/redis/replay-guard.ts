/**
 * Replay guard shared by every gateway node of a cluster: one atomic `SET key 1 PX ttl NX` per
 * request — Redis answers OK to exactly one of any number of concurrent writers of a key.
 *
 * Fails closed and never hangs: any error or a reply slower than `timeoutMs` is `unavailable`,
 * which the pipeline answers with REPLAY_CHECK_UNAVAILABLE. Pair it with a client built with
 * REDIS_FAIL_FAST_OPTIONS so that commands are not queued while Redis is away.
 */
import type { RedisOptions } from './ioredis.js';
import {
  checkedTtlMs,
  type ReplayGuard,
  type ReplayVerdict,
} from '../../core/replay/replay-guard.js';

/** The one command of an ioredis client the guard uses. */
export interface RedisSetNxClient {
  set(key: string, value: string, px: 'PX', ttlMs: number, nx: 'NX'): Promise<'OK' | null>;
}

export interface RedisReplayGuardDeps {
  readonly redis: RedisSetNxClient;
  /** Told why a check was `unavailable` (connection refused, timeout); never given the id. */
  readonly onError?: (error: Error) => void;
}

export interface RedisReplayGuardOptions {
  /** Prepended to every stored id. Default `portcullis:replay:`. */
  readonly keyPrefix?: string;
  /** Longest wait for Redis before answering `unavailable`. Default 250 ms. */
  readonly timeoutMs?: number;
}

/**
 * Client options that make a dead Redis fail fast: no offline queue (a command while
 * disconnected fails at once instead of waiting for a reconnect), a command timeout, no
 * per-command retries. The client must be connected (`await redis.connect()` with
 * `lazyConnect`) before the gateway takes traffic, or early checks answer `unavailable`.
 */
export const REDIS_FAIL_FAST_OPTIONS = {
  enableOfflineQueue: false,
  commandTimeout: 250,
  connectTimeout: 1000,
  maxRetriesPerRequest: 0,
} as const satisfies RedisOptions;

const DEFAULT_KEY_PREFIX = 'portcullis:replay:';
const DEFAULT_TIMEOUT_MS = 250;

/** Creates the Redis-backed guard over an already configured client. */
export function createRedisReplayGuard(
  deps: RedisReplayGuardDeps,
  options: RedisReplayGuardOptions = {},
): ReplayGuard {
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    async remember(id: string, ttlMs: number): Promise<ReplayVerdict> {
      const ttl = checkedTtlMs(ttlMs);
      try {
        const reply = await withTimeout(
          deps.redis.set(keyPrefix + id, '1', 'PX', ttl, 'NX'),
          timeoutMs,
        );
        return reply === 'OK' ? 'fresh' : 'replayed';
      } catch (error) {
        deps.onError?.(error instanceof Error ? error : new Error('replay check failed'));
        return 'unavailable';
      }
    },
  };
}

/** Rejects after `timeoutMs` unless `promise` settles first; the timer never outlives the call. */
async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`replay check timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
