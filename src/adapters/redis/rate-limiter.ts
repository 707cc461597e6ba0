/**
 * The Redis RateLimiter for a cluster: every node sharing one Redis enforces one global limit.
 * One EVALSHA per decision (EVAL once on NOSCRIPT), atomic over the whole check set.
 *
 * Clock: `clock: 'redis'` (the default) reads TIME inside the script, so every node measures
 * windows on one clock and node clock skew cannot widen or narrow a window; `clock: 'caller'`
 * uses the `nowMs` passed to `take` (deterministic tests, or a single node).
 *
 * Redis down: the limiter never hangs — the client must be built with a command timeout and no
 * offline queue (REDIS_LIMITER_CLIENT_OPTIONS). On an error it switches mode for
 * `probeIntervalMs` (then tries Redis again): `fail-closed` refuses every set with
 * `unavailable: true`; `local-fallback` applies the same rules in memory with each limit divided
 * by `nodeCount`, which keeps the cluster-wide total near the limit if every node falls back.
 * A command that timed out may still run on Redis later; it then charges a request that was
 * decided locally, which errs on the strict side.
 */
import { assertCost, isVetted, mergeChecks } from '../../core/limits/decide-limits.js';
import { checkedTtlMs } from '../../core/replay/replay-guard.js';
import type {
  CheckResult,
  LimitCheck,
  LimitResult,
  LimitRule,
  OnceResult,
  RateLimiter,
  ReplayMark,
} from '../../core/limits/types.js';
import { createMemoryRateLimiter, type MemoryRateLimiter } from '../memory/rate-limiter.js';
import { RATE_LIMIT_SCRIPT } from './rate-limiter-script.js';
import { redisScript, type RedisScriptClient } from './script.js';

export type { RedisScriptClient } from './script.js';

/** ioredis options that keep a limiter call bounded when Redis is slow or gone. */
export const REDIS_LIMITER_CLIENT_OPTIONS = {
  commandTimeout: 100,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
} as const;

export type RedisLimiterMode = 'redis' | 'local-fallback' | 'fail-closed';

export interface RedisLimiterStatus {
  readonly mode: RedisLimiterMode;
  /** When the current mode began (caller clock, ms). */
  readonly sinceMs: number;
  /** Name of the last error that switched away from Redis (never its message: no secrets). */
  readonly lastError?: string;
}

export interface RedisRateLimiterOptions {
  /** Prepended to every key, e.g. `pc:rl:`; tests use a random one each. */
  readonly keyPrefix: string;
  readonly clock?: 'redis' | 'caller';
  readonly onRedisDown: 'fail-closed' | 'local-fallback';
  /** Gateway nodes sharing the limit; local-fallback divides each limit by it. Default 1. */
  readonly nodeCount?: number;
  /** How long to stay off Redis after an error before trying again. Default 1,000 ms. */
  readonly probeIntervalMs?: number;
  /** Called on every mode change, for logs and metrics. */
  readonly onModeChange?: (status: RedisLimiterStatus) => void;
  /** Memory bound of the local-fallback limiter. */
  readonly fallbackMaxBuckets?: number;
  /**
   * The shared replay guard's key prefix (src/adapters/redis/replay-guard.ts) when it lives on
   * this same Redis: the limiter then offers `takeOnce`, recording the replay id in the script
   * that takes the limits (one round trip per request instead of two). Absent: no takeOnce.
   */
  readonly replayKeyPrefix?: string;
}

export interface RedisRateLimiter extends RateLimiter {
  take(checks: readonly LimitCheck[], nowMs: number): Promise<LimitResult>;
  takeOnce?(checks: readonly LimitCheck[], nowMs: number, replay: ReplayMark): Promise<OnceResult>;
  status(): RedisLimiterStatus;
}

/** What `ask` answers when Redis could not run the script. */
const REDIS_FAILED = Symbol('redis failed');

/** Creates the Redis limiter over an existing client (see REDIS_LIMITER_CLIENT_OPTIONS). */
export function createRedisRateLimiter(
  deps: { readonly redis: RedisScriptClient },
  options: RedisRateLimiterOptions,
): RedisRateLimiter {
  const nodeCount = options.nodeCount ?? 1;
  const probeIntervalMs = options.probeIntervalMs ?? 1_000;
  let status: RedisLimiterStatus = { mode: 'redis', sinceMs: 0 };
  let retryRedisAtMs = 0;
  let fallback: MemoryRateLimiter | undefined;
  const dividedRules = new WeakMap<LimitRule, LimitRule>();

  function setMode(mode: RedisLimiterMode, nowMs: number, error?: unknown): void {
    if (status.mode === mode) return;
    const lastError = error instanceof Error ? error.name : undefined;
    status =
      lastError === undefined ? { mode, sinceMs: nowMs } : { mode, sinceMs: nowMs, lastError };
    if (mode === 'redis') fallback = undefined; // forget stale local state on recovery
    options.onModeChange?.(status);
  }

  function localRule(rule: LimitRule): LimitRule {
    let divided = dividedRules.get(rule);
    if (divided === undefined) {
      divided = { ...rule, limit: Math.max(1, Math.floor(rule.limit / nodeCount)) };
      dividedRules.set(rule, divided);
    }
    return divided;
  }

  function degraded(checks: readonly LimitCheck[], nowMs: number): LimitResult {
    if (options.onRedisDown === 'fail-closed') {
      return { allowed: false, results: [], retryAfterMs: probeIntervalMs, unavailable: true };
    }
    fallback ??= createMemoryRateLimiter(
      options.fallbackMaxBuckets === undefined ? {} : { maxBuckets: options.fallbackMaxBuckets },
    );
    return fallback.take(
      checks.map((check) => ({ ...check, rule: localRule(check.rule) })),
      nowMs,
    );
  }

  const run = redisScript(deps.redis, RATE_LIMIT_SCRIPT);

  /**
   * Runs the script; an error switches to the `onRedisDown` mode until the next probe and
   * answers REDIS_FAILED, a reply switches back to Redis.
   */
  async function ask(keys: string[], args: (string | number)[], nowMs: number): Promise<unknown> {
    try {
      const reply = await run(keys, args);
      setMode('redis', nowMs);
      return reply;
    } catch (error) {
      retryRedisAtMs = nowMs + probeIntervalMs;
      setMode(options.onRedisDown, nowMs, error);
      return REDIS_FAILED;
    }
  }

  /** The merged set, costs checked; a set createRequestLimits vetted is used as it is. */
  function vetted(rawChecks: readonly LimitCheck[]): readonly LimitCheck[] {
    if (isVetted(rawChecks)) return rawChecks;
    const checks = mergeChecks(rawChecks);
    for (const check of checks) assertCost(check.cost);
    return checks;
  }

  function encode(checks: readonly LimitCheck[], nowMs: number) {
    const keys: string[] = [];
    const args: (string | number)[] = [options.clock === 'caller' ? nowMs : ''];
    for (const { bucketKey, rule, cost } of checks) {
      const base = `${options.keyPrefix}${bucketKey}|${rule.name}|`;
      keys.push(`${base}l`, `${base}s`);
      args.push(rule.windowMs, rule.limit, cost);
    }
    return { keys, args };
  }

  const replayKeyPrefix = options.replayKeyPrefix;
  const takeOnce =
    replayKeyPrefix === undefined
      ? undefined
      : async (
          rawChecks: readonly LimitCheck[],
          nowMs: number,
          replay: ReplayMark,
        ): Promise<OnceResult> => {
          const checks = vetted(rawChecks);
          // Off Redis for now: the caller asks the replay guard and `take` (the fallback) apart.
          if (status.mode !== 'redis' && nowMs < retryRedisAtMs) return undefined;
          const { keys, args } = encode(checks, nowMs);
          keys.push(replayKeyPrefix + replay.id);
          args.push(checkedTtlMs(replay.ttlMs));
          const reply = await ask(keys, args, nowMs);
          // The id could not be recorded: replay protection fails closed, whatever the limits do.
          if (reply === REDIS_FAILED) return 'unavailable';
          if (Array.isArray(reply) && reply.length === 1 && Number(reply[0]) === -1)
            return 'replayed';
          return toResult(checks, reply);
        };

  return {
    ...(takeOnce === undefined ? {} : { takeOnce }),
    async take(rawChecks, nowMs) {
      const checks = vetted(rawChecks);
      if (status.mode !== 'redis' && nowMs < retryRedisAtMs) return degraded(checks, nowMs);
      const { keys, args } = encode(checks, nowMs);
      const reply = await ask(keys, args, nowMs);
      if (reply === REDIS_FAILED) return degraded(checks, nowMs);
      return toResult(checks, reply);
    },
    status: () => status,
  };
}

/** Maps the script's flat integer reply onto a LimitResult, as decideLimits would build it. */
function toResult(checks: readonly LimitCheck[], reply: unknown): LimitResult {
  if (!Array.isArray(reply) || reply.length !== 2 + 3 * checks.length) {
    throw new TypeError('unexpected rate-limit script reply');
  }
  const numbers = reply.map(Number);
  const allowed = numbers[0] === 1;
  let retryAfterMs = 0;
  let violated: string | undefined;
  const results = checks.map((check, i): CheckResult => {
    const [used = 0, resetMs = 0, retryMs = 0] = numbers.slice(2 + 3 * i, 5 + 3 * i);
    if (!allowed && retryMs > 0 && (violated === undefined || retryMs > retryAfterMs)) {
      retryAfterMs = retryMs;
      violated = check.rule.name;
    }
    const { rule, bucketKey } = check;
    return {
      name: rule.name,
      bucketKey,
      limit: rule.limit,
      windowMs: rule.windowMs,
      remaining: rule.limit - used,
      resetMs,
    };
  });
  return violated === undefined
    ? { allowed, results, retryAfterMs }
    : { allowed, results, retryAfterMs, violated };
}
