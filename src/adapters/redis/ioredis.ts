/**
 * ioredis, as the rest of Portcullis imports it. Loading ioredis defines a subclass of String
 * (`VerbatimString`, for RESP3 replies), and V8 keeps `String.prototype` in dictionary mode
 * from then until that class is first instantiated, which a RESP2 connection never does. Until
 * then every method call on a string (`indexOf`, `slice`, `charCodeAt`…) is a dictionary
 * lookup: with ioredis loaded, the request pipeline of a native order took 16.0–16.7 µs here
 * instead of 12.2–12.6 µs. One instance, made once, puts `String.prototype` back in fast mode
 * (`test/adapters/redis/ioredis.test.ts` checks it with V8's `%HasFastProperties`). A later
 * ioredis that moves or drops the class leaves nothing to undo, and the test says so.
 */
import { createRequire } from 'node:module';

export { Redis, type RedisOptions } from 'ioredis';

const load = createRequire(import.meta.url);
try {
  const { VerbatimString } = load('ioredis/built/resp/verbatim-string.js') as {
    VerbatimString: new (format: string, value: string) => object;
  };
  new VerbatimString('txt', '');
} catch {
  // Another layout of ioredis: see above.
}
