/**
 * Write batching for the request-path Redis connections (src/adapters/redis/write-batching.ts),
 * against the real Redis on 127.0.0.1:6379: the commands of one event-loop turn leave together
 * (up to 8 per socket write), each still gets its own answer, and a later turn's command is sent
 * (nothing stays corked).
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchedScriptClient,
  batchedSetNxClient,
  DEFAULT_MAX_BATCH,
  writeBatcher,
} from '../../../src/adapters/redis/write-batching.js';

const redis = new Redis({ host: '127.0.0.1', port: 6379 });
let writes = 0;
beforeAll(async () => {
  await redis.ping();
  // Count the socket's writes as the stream calls them (one call = one system call).
  const socket = redis.stream as Socket & {
    _write: (...args: unknown[]) => void;
    _writev: (...args: unknown[]) => void;
  };
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (...args) => {
    writes++;
    write(...args);
  };
  socket._writev = (...args) => {
    writes++;
    writev(...args);
  };
});
afterAll(async () => {
  await redis.quit();
});

const SCRIPT = 'return ARGV[1] + 1';

describe('Redis write batching', () => {
  it('sends the scripts of one turn in batches of at most 8 writes, each answered on its own', async () => {
    const client = batchedScriptClient(redis);
    await client.eval(SCRIPT, 0, 0); // settles the connection
    writes = 0;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.eval(SCRIPT, 0, i)),
    );
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(DEFAULT_MAX_BATCH).toBe(8);
    expect(writes).toBe(3); // 8 + 8 + 4
    writes = 0;
    await Promise.all(Array.from({ length: 5 }, (_, i) => client.eval(SCRIPT, 0, i)));
    expect(writes).toBe(1);
  });

  it('sends a whole turn in one write when the cap allows', async () => {
    const batch = writeBatcher(redis, 1_000);
    writes = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        batch();
        return redis.eval(SCRIPT, 0, i);
      }),
    );
    expect(writes).toBe(1);
  });

  it('without it, the same commands take one write each (the control)', async () => {
    writes = 0;
    await Promise.all(Array.from({ length: 20 }, (_, i) => redis.eval(SCRIPT, 0, i)));
    expect(writes).toBe(20);
  });

  it('sends a later turn’s command too, and passes errors through', async () => {
    const client = batchedScriptClient(redis);
    for (let i = 0; i < 3; i++) expect(await client.eval(SCRIPT, 0, i)).toBe(i + 1);
    await expect(client.evalsha('0'.repeat(40), 0)).rejects.toThrow(/NOSCRIPT/);
  });

  it('batches the replay guard’s SET NX the same way', async () => {
    const client = batchedSetNxClient(redis);
    const key = `test:batch:${randomUUID()}`;
    writes = 0;
    const answers = await Promise.all([
      client.set(key, '1', 'PX', 1000, 'NX'),
      client.set(key, '1', 'PX', 1000, 'NX'),
    ]);
    expect(answers).toEqual(['OK', null]);
    expect(writes).toBe(1);
  });

  it('does nothing without a writable socket', () => {
    expect(() => writeBatcher({})()).not.toThrow();
    const closed = { stream: { writable: false, cork: () => expect.fail(), uncork: () => {} } };
    writeBatcher(closed)();
  });
});
