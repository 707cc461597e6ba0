/**
 * The cluster's shared refusal windows on Redis (core/limits/bans.ts addRefusals): every node
 * adds the 429s it answered per IP prefix, and the node whose addition reaches the threshold is
 * told it made the offence. One hash per prefix and environment,
 * `<keyPrefix><environment>:refusals:<prefix>` = { n: refusals, s: window start }, expiring with
 * its window; the script empties it on the offence, so exactly one addition is told. Windows are
 * on the caller's clock (`now` is an argument), as on one node; the TTL only cleans up.
 *
 * The client must fail fast (a command timeout, no offline queue): the caller adds off the
 * request path and, when it fails, the node's own count is all there is for a while.
 */
import type { Environment } from '../../core/keys/model.js';
import type { SharedRefusals } from '../../core/limits/bans.js';
import { redisScript, type RedisScriptClient } from './script.js';

/** Prefixes added in one script call at most (a larger report is split). */
export const MAX_PREFIXES_PER_CALL = 256;

// KEYS: one window per prefix. ARGV: now, windowMs, threshold, then one count per key.
// Answers the 1-based positions of the keys whose addition made an offence.
const SCRIPT = `
local now = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local held = redis.call('HMGET', key, 'n', 's')
  local n = tonumber(held[1] or '0')
  local s = tonumber(held[2] or '0')
  if n <= 0 or now - s >= windowMs then
    n = 0
    s = now
  end
  n = n + tonumber(ARGV[3 + i])
  if n >= threshold then
    redis.call('DEL', key)
    out[#out + 1] = i
  else
    redis.call('HSET', key, 'n', n, 's', s)
    redis.call('PEXPIRE', key, math.max(1, s + windowMs - now))
  end
end
return out
`;

export function createRedisSharedRefusals(
  redis: RedisScriptClient,
  options: { readonly keyPrefix: string },
): SharedRefusals {
  const run = redisScript(redis, SCRIPT);
  return {
    async add(environment: Environment, counts, nowMs, policy) {
      const entries = [...counts];
      const offences: string[] = [];
      for (let from = 0; from < entries.length; from += MAX_PREFIXES_PER_CALL) {
        const part = entries.slice(from, from + MAX_PREFIXES_PER_CALL);
        const keys = part.map(
          ([prefix]) => `${options.keyPrefix}${environment}:refusals:${prefix}`,
        );
        const args = [
          Math.floor(nowMs),
          policy.refusalWindowMs,
          policy.refusalThreshold,
          ...part.map(([, count]) => count),
        ];
        const answer = (await run(keys, args)) as number[];
        for (const position of answer) {
          const entry = part[position - 1];
          if (entry !== undefined) offences.push(entry[0]);
        }
      }
      return offences;
    },
  };
}
