/**
 * Commands that one Redis connection sends within one turn of the event loop leave in few
 * socket writes. On the request path every request sends one command (the limiter's script, or
 * the replay guard's SET NX), and each write to a socket is a system call: ~40 µs of the
 * gateway's CPU per request on this project's benchmark machine, measured with a CPU profile
 * under load (`writeUtf8String`), more than ioredis itself; and Redis reads each one separately.
 * So the socket is corked at a turn's first command and uncorked by `setImmediate`, after the
 * poll phase has handled every request that was ready, or as soon as `maxBatch` commands wait:
 * Node then sends them with one `writev` (stream.Writable cork/uncork), Redis reads them at once.
 *
 * Why the cap: a corked command waits for the others of its turn, and Redis idles meanwhile. With
 * 64 requests in flight issued in one burst (the bench's in-process Redis figure), batching all of
 * them cost 60–80 % more time per request than not batching; in batches of 8 the time is the same
 * as unbatched. Measured in the gateway under load (docs/performance.md): Redis CPU per request
 * down ~15–25 %; the gateway's own throughput change was inside this machine's noise. ioredis's
 * auto-pipelining batches too, but its pipeline bookkeeping cost about what it saved.
 *
 * Nothing else changes: replies, errors and command timeouts are ioredis's as before; a command
 * sent while the socket is down is refused by ioredis as before (no offline queue), and a socket
 * replaced by a reconnect is simply not corked until its next command.
 */
import type { RedisScriptClient } from './script.js';
import type { RedisSetNxClient } from './replay-guard.js';

/** The part of an ioredis client this needs: its current socket (undefined before the first). */
export interface RedisConnection {
  readonly stream?: { readonly writable: boolean; cork(): void; uncork(): void } | undefined;
}

/** Commands held at most before the batch is sent (see the module comment). */
export const DEFAULT_MAX_BATCH = 8;

/**
 * Returns `batch()`, to call before each command: corks the connection's socket unless this
 * turn already did (sending the held batch first when it is full), and schedules the uncork
 * that sends everything written since.
 */
export function writeBatcher(
  connection: RedisConnection,
  maxBatch = DEFAULT_MAX_BATCH,
): () => void {
  let corked: { readonly uncork: () => void } | undefined;
  let queued = 0;
  const flush = () => {
    const stream = corked;
    corked = undefined;
    stream?.uncork();
  };
  return () => {
    if (corked !== undefined) {
      // Sent before this command joins: the batch already holds maxBatch commands.
      if (++queued < maxBatch) return;
      flush();
    }
    const stream = connection.stream;
    if (stream === undefined || !stream.writable) return;
    stream.cork();
    const batch = { uncork: () => stream.uncork() };
    corked = batch;
    queued = 0;
    setImmediate(() => {
      if (corked === batch) flush();
    });
  };
}

/** The limiter's script client over `redis`, its commands batched per turn. */
export function batchedScriptClient(redis: RedisScriptClient & RedisConnection): RedisScriptClient {
  const batch = writeBatcher(redis);
  return {
    evalsha: (...args) => {
      batch();
      return redis.evalsha(...args);
    },
    eval: (...args) => {
      batch();
      return redis.eval(...args);
    },
  };
}

/** The replay guard's client over `redis`, its commands batched per turn. */
export function batchedSetNxClient(redis: RedisSetNxClient & RedisConnection): RedisSetNxClient {
  const batch = writeBatcher(redis);
  return {
    set: (...args) => {
      batch();
      return redis.set(...args);
    },
  };
}
