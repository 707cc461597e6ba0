/**
 * The cluster's shared failure windows on Redis (src/core/risk/shared-windows.ts): every node
 * adds its batch's denials in one EVALSHA and reads back the cluster-wide measure, so a burst or
 * a spray spread over the nodes is seen whole. Per window: a hash of bucket → count
 * (failure_burst) or a sorted set of key id → latest failure time (key_spray), each with a TTL
 * of its window; the cooldown is `SET NX PX`, so of the nodes that see a subject cross its
 * threshold, one raises it. Keys: `<prefix><kind>:<environment>:<subject type>:<subject id>`
 * and the same under `<prefix>cooldown:`.
 *
 * The client must fail fast (a command timeout, no offline queue): the monitor waits on this off
 * the request path and, when it fails, decides the batch on the node's own windows.
 */
import {
  FAILURE_WINDOW_SLOTS,
  type SharedRiskWindows,
  type WindowAnswer,
  type WindowContribution,
} from '../../core/risk/shared-windows.js';
import { redisScript, type RedisScriptClient } from './script.js';

/** Contributions sent in one script call at most (a batch is split beyond it). */
export const MAX_CONTRIBUTIONS_PER_CALL = 256;

// KEYS: per contribution, its window then its cooldown. ARGV: slots, then per contribution
// kind ('b' burst | 's' spray), now, windowMs, slotMs, threshold, cooldownMs, maxTracked,
// pairs, then `pairs` (bucket, count) or (key id, time) pairs. Answers {observed, raise} each.
const SCRIPT = `
local slots = tonumber(ARGV[1])
local a = 2
local out = {}
for i = 1, #KEYS / 2 do
  local window = KEYS[2 * i - 1]
  local cooldown = KEYS[2 * i]
  local kind = ARGV[a]
  local now = tonumber(ARGV[a + 1])
  local windowMs = tonumber(ARGV[a + 2])
  local slotMs = tonumber(ARGV[a + 3])
  local threshold = tonumber(ARGV[a + 4])
  local cooldownMs = tonumber(ARGV[a + 5])
  local maxTracked = tonumber(ARGV[a + 6])
  local pairs = tonumber(ARGV[a + 7])
  a = a + 8
  local observed = 0
  if kind == 'b' then
    for j = 1, pairs do
      redis.call('HINCRBY', window, ARGV[a], ARGV[a + 1])
      a = a + 2
    end
    local current = math.floor(now / slotMs)
    local fields = redis.call('HGETALL', window)
    for j = 1, #fields, 2 do
      local slot = tonumber(fields[j])
      if slot <= current - slots then
        redis.call('HDEL', window, fields[j])
      elseif slot <= current then
        observed = observed + tonumber(fields[j + 1])
      end
    end
    redis.call('PEXPIRE', window, windowMs + slotMs)
  else
    for j = 1, pairs do
      redis.call('ZADD', window, 'GT', ARGV[a + 1], ARGV[a])
      a = a + 2
    end
    redis.call('ZREMRANGEBYSCORE', window, '-inf', '(' .. string.format('%.0f', now - windowMs))
    local size = redis.call('ZCARD', window)
    if size > maxTracked then
      redis.call('ZREMRANGEBYRANK', window, 0, size - maxTracked - 1)
      size = maxTracked
    end
    observed = size
    redis.call('PEXPIRE', window, windowMs)
  end
  local raise = 0
  if observed >= threshold then
    if cooldownMs <= 0 then
      raise = 1
    elseif redis.call('SET', cooldown, '1', 'PX', cooldownMs, 'NX') then
      raise = 1
    end
  end
  out[i] = { observed, raise }
end
return out
`;

export function createRedisSharedRiskWindows(
  deps: { readonly redis: RedisScriptClient },
  options: { readonly keyPrefix: string },
): SharedRiskWindows {
  const run = redisScript(deps.redis, SCRIPT);

  async function addChunk(chunk: readonly WindowContribution[]): Promise<WindowAnswer[]> {
    const keys: string[] = [];
    const args: (string | number)[] = [FAILURE_WINDOW_SLOTS];
    for (const c of chunk) {
      keys.push(`${options.keyPrefix}${c.id}`, `${options.keyPrefix}cooldown:${c.id}`);
      const burst = c.kind === 'failure_burst';
      const pairs = burst ? c.counts : c.members;
      args.push(burst ? 'b' : 's', c.last.nowMs, c.windowMs, c.slotMs, c.threshold);
      args.push(Math.max(0, Math.ceil(c.cooldownMs)), c.maxTracked, pairs.size);
      for (const [member, value] of pairs) args.push(member, value);
    }
    const reply = await run(keys, args);
    if (!Array.isArray(reply) || reply.length !== chunk.length) {
      throw new Error('shared risk windows: unexpected script reply');
    }
    return reply.map((row: unknown) => {
      const [observed, raise] = Array.isArray(row) ? (row as unknown[]) : [];
      return { observed: Number(observed), raise: raise === 1 };
    });
  }

  return {
    async add(contributions) {
      const answers: WindowAnswer[] = [];
      for (let i = 0; i < contributions.length; i += MAX_CONTRIBUTIONS_PER_CALL) {
        answers.push(...(await addChunk(contributions.slice(i, i + MAX_CONTRIBUTIONS_PER_CALL))));
      }
      return answers;
    },
  };
}
