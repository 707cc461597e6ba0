/**
 * The Lua script behind the Redis RateLimiter: one EVALSHA per decision, atomic because Redis
 * runs a script without interleaving other commands. It applies the exact sliding window of
 * src/core/limits/sliding-window.ts (same rules, same rounding) to every check of a set, and
 * charges all checks or none.
 *
 * Storage per (bucketKey, rule): a LIST of alternating `time, cost` (oldest first, coalesced per
 * millisecond) and a STRING holding the sum of those costs. Both carry a PEXPIRE equal to the
 * time until the newest entry ages out, so idle buckets vanish by themselves; no KEYS scans.
 *
 * KEYS: for check i (1-based), KEYS[2i-1] = log list, KEYS[2i] = sum; with an odd count, the
 * last key is a replay id to record first (RateLimiter.takeOnce), its ttl in ms the last ARGV.
 * ARGV[1]: the caller's now in ms, or '' to use the Redis server clock (TIME).
 * ARGV[3i-1], ARGV[3i], ARGV[3i+1]: windowMs, limit, cost of check i.
 * Returns { allowed (0|1), now, then per check: used (after any charge), resetMs, retryAfterMs },
 * or { -1 } when the replay id was already recorded (nothing is charged then). The replay id is
 * set exactly as the replay guard sets it (`SET id 1 PX ttl NX`), so both paths share one record.
 */
export const RATE_LIMIT_SCRIPT = `
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local n = math.floor(#KEYS / 2)
if #KEYS % 2 == 1 then
  if not redis.call('SET', KEYS[#KEYS], '1', 'PX', ARGV[#ARGV], 'NX') then return { -1 } end
end
local used, last = {}, {}
local allowed = true
for i = 1, n do
  local log, sumKey = KEYS[2 * i - 1], KEYS[2 * i]
  local w, limit, cost = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local u = tonumber(redis.call('GET', sumKey) or '0')
  local pruned = false
  while true do
    local ts = redis.call('LINDEX', log, 0)
    if not ts or tonumber(ts) > now - w then break end
    u = u - tonumber(redis.call('LINDEX', log, 1))
    redis.call('LTRIM', log, 2, -1)
    pruned = true
  end
  local lt = redis.call('LINDEX', log, -2)
  if not lt then u = 0 end
  if pruned then
    if u <= 0 then redis.call('DEL', sumKey) else redis.call('SET', sumKey, u, 'KEEPTTL') end
  end
  used[i] = u
  last[i] = lt and tonumber(lt) or false
  if u + cost > limit then allowed = false end
end
local out = { allowed and 1 or 0, now }
for i = 1, n do
  local log, sumKey = KEYS[2 * i - 1], KEYS[2 * i]
  local w, limit, cost = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local u, newest, retry = used[i], last[i], 0
  if allowed and cost > 0 then
    if newest and newest >= now then
      redis.call('LSET', log, -1, tonumber(redis.call('LINDEX', log, -1)) + cost)
    else
      redis.call('RPUSH', log, now, cost)
      newest = now
    end
    u = u + cost
    redis.call('SET', sumKey, u)
    redis.call('PEXPIRE', log, newest + w - now)
    redis.call('PEXPIRE', sumKey, newest + w - now)
  elseif u + cost > limit then
    retry = w
    if cost <= limit then
      local need, freed, from, found = u + cost - limit, 0, 0, false
      while not found do
        local chunk = redis.call('LRANGE', log, from, from + 63)
        if #chunk == 0 then break end
        for j = 1, #chunk, 2 do
          freed = freed + tonumber(chunk[j + 1])
          if freed >= need then
            retry = tonumber(chunk[j]) + w - now
            found = true
            break
          end
        end
        from = from + 64
      end
    end
  end
  local reset = 0
  if newest then reset = newest + w - now end
  out[#out + 1] = u
  out[#out + 1] = reset
  out[#out + 1] = retry
end
return out
`;
