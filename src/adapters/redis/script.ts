/** A Lua script run by its SHA (EVALSHA), loaded by EVAL when the server does not know it. */
import { createHash } from 'node:crypto';

/** The slice of an ioredis client that runs scripts. */
export interface RedisScriptClient {
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** `run(keys, args)` for `source`: one EVALSHA, or EVAL once after NOSCRIPT. */
export function redisScript(
  redis: RedisScriptClient,
  source: string,
): (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown> {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (keys, args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      // NOSCRIPT: the script cache was flushed or this is a new server; load it by EVAL once.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(source, keys.length, ...keys, ...args);
    }
  };
}
