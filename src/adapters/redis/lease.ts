/**
 * A named lease on the cluster's Redis: `SET <key> <holder> PX <ttl> NX`, which Redis grants to
 * exactly one of any number of concurrent callers until the ttl runs out. Used for periodic work
 * that one node of a cluster should do per interval (the key-governance job). An error answers
 * false: work that cannot be coordinated is skipped this time rather than done on every node.
 */
import type { RedisSetNxClient } from './replay-guard.js';

export type Lease = (ttlMs: number) => Promise<boolean>;

export function createRedisLease(
  deps: { readonly redis: RedisSetNxClient },
  options: { readonly key: string; readonly holder: string },
): Lease {
  return async (ttlMs) => {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    try {
      return (await deps.redis.set(options.key, options.holder, 'PX', ttl, 'NX')) === 'OK';
    } catch {
      return false;
    }
  };
}
