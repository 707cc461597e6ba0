/**
 * Active bans kept in the cluster's Redis, so that a node that starts (or restarts) after a ban
 * was decided knows it: nodes hold bans in memory and announce them on the change events
 * (src/app/rate-limits.ts), which reach only the nodes connected at the time. One hash per
 * environment, `<keyPrefix><environment>:bans`, field = IP prefix, value = `{untilMs,
 * offences}`; the hash expires with its last ban, and a load drops the fields whose ban is over.
 * Best effort: the callers log a failure and go on (the ban holds in memory either way).
 */
import type { Environment } from '../../core/keys/model.js';
import { sharedBanOf } from '../../core/limits/bans.js';

/** The slice of an ioredis client this uses. */
export interface BanRecordsClient {
  hset(key: string, field: string, value: string): Promise<unknown>;
  hdel(key: string, ...fields: string[]): Promise<unknown>;
  hget(key: string, field: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  pexpire(key: string, ms: number, mode: 'NX' | 'GT'): Promise<unknown>;
}

export interface StoredBan {
  readonly prefix: string;
  readonly untilMs: number;
  readonly offences: number;
}

export interface BanRecords {
  save(environment: Environment, ban: StoredBan, nowMs: number): Promise<void>;
  /** Forgets the ban on `prefix`; true if one in force at `nowMs` was kept. */
  remove(environment: Environment, prefix: string, nowMs: number): Promise<boolean>;
  /** The bans still in force at `nowMs` (those over are deleted on the way). */
  load(environment: Environment, nowMs: number): Promise<StoredBan[]>;
}

export function createRedisBanRecords(
  redis: BanRecordsClient,
  options: { readonly keyPrefix: string },
): BanRecords {
  const keyOf = (environment: Environment) => `${options.keyPrefix}${environment}:bans`;
  return {
    async save(environment, ban, nowMs) {
      const ttlMs = Math.ceil(ban.untilMs - nowMs);
      if (ttlMs <= 0) return;
      const key = keyOf(environment);
      const value = JSON.stringify({ untilMs: ban.untilMs, offences: ban.offences });
      await redis.hset(key, ban.prefix, value);
      // The hash lives as long as its longest ban: set when it has no TTL yet, else extended.
      await redis.pexpire(key, ttlMs, 'NX');
      await redis.pexpire(key, ttlMs, 'GT');
    },
    async remove(environment, prefix, nowMs) {
      const key = keyOf(environment);
      const value = await redis.hget(key, prefix);
      if (value === null) return false;
      await redis.hdel(key, prefix);
      const ban = parseBan(prefix, value);
      return ban !== undefined && ban.untilMs > nowMs;
    },
    async load(environment, nowMs) {
      const key = keyOf(environment);
      const fields = await redis.hgetall(key);
      const bans: StoredBan[] = [];
      const over: string[] = [];
      for (const [prefix, value] of Object.entries(fields)) {
        const ban = parseBan(prefix, value);
        if (ban !== undefined && ban.untilMs > nowMs) bans.push(ban);
        else over.push(prefix);
      }
      if (over.length > 0) await redis.hdel(key, ...over);
      return bans;
    },
  };
}

function parseBan(prefix: string, value: string): StoredBan | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { untilMs, offences } = parsed as Record<string, unknown>;
  return sharedBanOf(prefix, untilMs, offences);
}
