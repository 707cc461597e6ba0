/**
 * The cluster's shared failure windows and rate states on Redis (src/core/risk/shared-windows.ts):
 * every node adds its batch's denials and request counts in one EVALSHA and reads back the
 * cluster-wide measure, so a burst, a spray or a rate spike spread over the nodes is seen whole.
 * Per subject: a hash of bucket → count (failure_burst), a sorted set of key id → latest failure
 * time (key_spray), each with a TTL of its window, or a hash holding the rate baseline
 * (rate_spike: interval, count, EWMA mean and variance, intervals; RATE_STATE_TTL_MS); the
 * cooldown is `SET NX PX`, so of the nodes that see a subject cross its threshold, one raises
 * it. Keys: `<prefix><kind>:<environment>:<subject type>:<subject id>` and the same under
 * `<prefix>cooldown:`. The rate arithmetic is addRateCounts's, in the same order of operations,
 * and the baseline is stored with 17 significant digits, so it is the engine's to the bit.
 *
 * The client must fail fast (a command timeout, no offline queue): the monitor waits on this off
 * the request path and, when it fails, decides the batch on the node's own windows.
 */
import {
  FAILURE_WINDOW_SLOTS,
  type SharedRiskWindows,
  type SharedSignalKind,
  type WindowAnswer,
  type WindowContribution,
} from '../../core/risk/shared-windows.js';
import { redisScript, type RedisScriptClient } from './script.js';

const KIND_CODE: Readonly<Record<SharedSignalKind, string>> = {
  failure_burst: 'b',
  key_spray: 's',
  rate_spike: 'r',
};

/** Contributions sent in one script call at most (a batch is split beyond it). */
export const MAX_CONTRIBUTIONS_PER_CALL = 256;

// KEYS: per contribution, its window then its cooldown. ARGV: slots, then per contribution
// kind ('b' burst | 's' spray | 'r' rate), now, windowMs, slotMs, threshold, cooldownMs,
// maxTracked, pairs, for 'r' lambda, warmupIntervals and minRequestsPerInterval, then `pairs`
// (bucket, count), (key id, time) or (interval, count) pairs. Answers {observed, raise} each;
// a rate's observed z-score as a string (Redis would truncate a Lua number to an integer).
const SCRIPT = `
local slots = tonumber(ARGV[1])
local a = 2
local out = {}
local function exact(x) return string.format('%.17g', x) end
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
  local raise = 0
  local function claim()
    return cooldownMs <= 0 or redis.call('SET', cooldown, '1', 'PX', cooldownMs, 'NX')
  end
  if kind == 'r' then
    local lambda = tonumber(ARGV[a])
    local warmup = tonumber(ARGV[a + 1])
    local minRequests = tonumber(ARGV[a + 2])
    a = a + 3
    local counts = {}
    for j = 1, pairs do
      counts[j] = { tonumber(ARGV[a]), tonumber(ARGV[a + 1]) }
      a = a + 2
    end
    table.sort(counts, function(x, y) return x[1] < y[1] end)
    local st = redis.call('HMGET', window, 'interval', 'count', 'mean', 'variance', 'intervals')
    local interval = tonumber(st[1]) or -math.huge
    local count = tonumber(st[2]) or 0
    local mean = tonumber(st[3]) or 0
    local variance = tonumber(st[4]) or 0
    local intervals = tonumber(st[5]) or 0
    for j = 1, #counts do
      if counts[j][1] > interval then
        if count > 0 then
          if intervals == 0 then
            mean = count
            variance = 0
          else
            local d = count - mean
            variance = (1 - lambda) * (variance + lambda * d * d)
            mean = mean + lambda * d
          end
          intervals = intervals + 1
        end
        interval = counts[j][1]
        count = 0
      end
      count = count + counts[j][2]
      if raise == 0 and intervals >= warmup and count >= minRequests then
        local sd = math.max(math.sqrt(variance), math.sqrt(mean), 1)
        local z = (count - mean) / sd
        if z > threshold and claim() then
          raise = 1
          observed = z
        end
      end
    end
    if #counts > 0 then
      redis.call('HSET', window, 'interval', exact(interval), 'count', exact(count),
        'mean', exact(mean), 'variance', exact(variance), 'intervals', exact(intervals))
      redis.call('PEXPIRE', window, windowMs)
    end
    out[i] = { exact(observed), raise }
  else
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
    if observed >= threshold and claim() then raise = 1 end
    out[i] = { observed, raise }
  end
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
      const pairs = c.kind === 'key_spray' ? c.members : c.counts;
      args.push(KIND_CODE[c.kind], c.last.nowMs, c.windowMs, c.slotMs, c.threshold);
      args.push(Math.max(0, Math.ceil(c.cooldownMs)), c.maxTracked, pairs.size);
      if (c.kind === 'rate_spike') {
        const rate = c.rate;
        if (rate === undefined) throw new Error('shared risk windows: a rate without its rule');
        args.push(rate.lambda, rate.warmupIntervals, rate.minRequestsPerInterval);
      }
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
