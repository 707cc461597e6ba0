/** Redis clients for tests: the machine's real Redis, and one that can never connect. */
import { Redis } from 'ioredis';

/** A client of nothing (port 1): every command fails at once, nothing is retried. */
export function unreachableRedis(): Redis {
  const down = new Redis({
    host: '127.0.0.1',
    port: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  down.on('error', () => undefined);
  return down;
}
