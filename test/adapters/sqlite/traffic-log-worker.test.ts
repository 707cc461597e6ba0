/**
 * The SQLite traffic log's writer thread. A worker cannot load .ts sources, so these tests run
 * the compiled store from dist/ (as `portcullis start` does): `npm run build` first (npm test
 * does). Under vitest the .ts store has no compiled worker beside it and writes in-thread.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as sourceStore from '../../../src/adapters/sqlite/traffic-log-store.js';
import {
  createTrafficLogWriter,
  toValues,
} from '../../../src/adapters/sqlite/traffic-log-writer.js';
import type * as sourceRuntime from '../../../src/app/runtime.js';
import type * as sourceConfig from '../../../src/config/config.js';
import { createTrafficLog, type TrafficRecord } from '../../../src/services/traffic-log.js';
import { createManualClock } from '../../helpers/manual-clock.js';
import { REPO_ROOT } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { countTurns } from '../../helpers/event-loop-turns.js';

type StoreModule = typeof sourceStore;
type Store = ReturnType<StoreModule['createSqliteTrafficLogStore']>;

const COMPILED = join(REPO_ROOT, 'dist', 'src', 'adapters', 'sqlite', 'traffic-log-store.js');
const T0 = 1_767_225_600_000;

let compiled: StoreModule;
beforeAll(async () => {
  if (!existsSync(COMPILED)) throw new Error('dist/ is missing: run `npm run build` first.');
  compiled = (await import(pathToFileURL(COMPILED).href)) as StoreModule;
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A file database in WAL mode, as observability.ts opens it. */
function fileDatabase(): { db: Database; dir: string } {
  const dir = createTempDir();
  const db = new BetterSqlite3(join(dir.path, 'observability.db'));
  db.pragma('journal_mode = WAL');
  cleanups.push(
    () => dir.remove(),
    () => {
      db.close();
    },
  );
  return { db, dir: dir.path };
}

/** The compiled store on a file database. */
function fileStore(): { db: Database; store: Store } {
  const { db } = fileDatabase();
  const store = compiled.createSqliteTrafficLogStore(db);
  cleanups.push(() => store.close());
  return { db, store };
}

/** A stand-in worker entry written to `dir`. */
function workerFile(dir: string, source: string): URL {
  const path = join(dir, 'worker.mjs');
  writeFileSync(path, source);
  return pathToFileURL(path);
}

function record(i: number, overrides: Partial<TrafficRecord> = {}): TrafficRecord {
  return {
    ts: T0 + i,
    requestId: `req_${i}`,
    environment: 'production',
    keyId: 'pk_live_a',
    ip: '203.0.113.7',
    method: 'POST',
    decision: 'allow',
    status: 200,
    pipelineUs: 4.5,
    totalMs: 2,
    ...overrides,
  };
}

const records = (from: number, n: number) => Array.from({ length: n }, (_, i) => record(from + i));

/** The threads of this process (Linux): a writer thread is one more. */
const threadCount = () => readdirSync('/proc/self/task').length;

/**
 * The thread count once it equals `expected`, or whatever it is after `withinMs`. A Worker's
 * 'exit' event (what `close()` awaits) comes before its OS thread is gone, so a count read right
 * after a close may still include that thread for a moment; there is no event for the thread
 * itself, so this polls. A thread that really stays behind fails the assertion after `withinMs`.
 */
async function threadCountReaching(expected: number, withinMs = 5_000): Promise<number> {
  const deadline = Date.now() + withinMs;
  while (threadCount() !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return threadCount();
}

describe('SQLite traffic log writer thread', () => {
  it('writes in a worker from the compiled build, in-thread from the .ts sources', () => {
    const { store } = fileStore();
    const source = sourceStore.createSqliteTrafficLogStore(new BetterSqlite3(':memory:'));
    expect([store.writeMode(), source.writeMode()]).toEqual(['worker', 'in-thread']);
  });

  it('writes in-thread on an in-memory database', async () => {
    const store = compiled.createSqliteTrafficLogStore(new BetterSqlite3(':memory:'));
    await store.insertBatch([record(1)]);
    expect([store.writeMode(), (await store.query({ since: T0, limit: 10 })).length]).toEqual([
      'in-thread',
      1,
    ]);
  });

  it('makes the records it wrote queryable on the main connection', async () => {
    const { store } = fileStore();
    const full = record(1, { accountId: 'acc_1', action: 'order.place', upstreamMs: 1.25 });
    const bare = record(2, { decision: 'deny', reason: 'ROUTE_UNKNOWN', status: 404 });
    delete (bare as { keyId?: string }).keyId;
    await store.insertBatch([full, bare]);
    expect(await store.query({ since: T0, limit: 10 })).toEqual([bare, full]);
  });

  it('runs queries on the thread, after the batches handed over before them', async () => {
    const { store } = fileStore();
    for (let i = 0; i < 200_000; i += 10_000) void store.insertBatch(records(i, 10_000));
    // Handed over after the batches: it sees them all.
    expect(await store.query({ since: T0 + 199_990, limit: 100 })).toHaveLength(10);
    // A filter the (ts) index does not serve scans every record in the range (200,000 here):
    // the event loop keeps turning meanwhile. In this thread it would not turn once.
    const turns = countTurns();
    const none = await store.query({ since: 0, reason: 'NO_SUCH_REASON', limit: 100 });
    turns.stop();
    expect(none).toEqual([]);
    expect(turns.count()).toBeGreaterThan(3);
  });

  it('still answers queries after close, on the main connection', async () => {
    const { store } = fileStore();
    await store.insertBatch(records(0, 3));
    await store.close();
    expect(await store.query({ since: 0, limit: 10 })).toHaveLength(3);
  });

  it('writes batches in the order they were handed over', async () => {
    const { store } = fileStore();
    // Same ts everywhere: the query's `id DESC` tie-break shows the insertion order.
    const batches = [0, 1, 2, 3].map((b) =>
      Array.from({ length: 50 }, (_, i) => record(0, { requestId: `req_${b * 50 + i}` })),
    );
    await Promise.all(batches.map((batch) => store.insertBatch(batch)));
    const rows = await store.query({ since: T0, limit: 1000 });
    expect(rows.map((r) => r.requestId).reverse()).toEqual(batches.flat().map((r) => r.requestId));
  });

  it('applies retention in the worker', async () => {
    const { store } = fileStore();
    await store.insertBatch(records(0, 10));
    expect(await store.deleteOlderThan(T0 + 4)).toBe(4);
    expect((await store.query({ since: 0, limit: 100 })).length).toBe(6);
  });

  it('keeps the newest maxRows records in the worker', async () => {
    const { store } = fileStore();
    await store.insertBatch(records(0, 10));
    expect(await store.deleteBeyond(4)).toBe(6);
    const kept = await store.query({ since: 0, limit: 100 });
    expect(kept.map((r) => r.ts)).toEqual([T0 + 9, T0 + 8, T0 + 7, T0 + 6]);
    expect(await store.deleteBeyond(4)).toBe(0);
  });

  it('waits on close for the batches handed over before', async () => {
    const { store } = fileStore();
    const pending = [store.insertBatch(records(0, 500)), store.insertBatch(records(500, 500))];
    await store.close();
    await expect(Promise.all(pending)).resolves.toEqual([undefined, undefined]);
    expect((await store.query({ since: 0, limit: 5000 })).length).toBe(1000);
  });

  it('rejects a batch handed over after close', async () => {
    const { store } = fileStore();
    await store.close();
    await expect(store.insertBatch([record(1)])).rejects.toThrow();
  });

  it('rejects a batch the worker failed to write, which the traffic log counts as dropped', async () => {
    const { db, store } = fileStore();
    await store.insertBatch([record(1)]); // the worker is up
    db.exec('DROP TABLE traffic_log');
    const dropped: [string, number][] = [];
    const log = createTrafficLog(
      {
        store,
        clock: createManualClock(T0),
        onDropped: (cause, count) => dropped.push([cause, count]),
      },
      {
        maxBuffered: 100,
        batchSize: 10,
        flushIntervalMs: 3_600_000,
        retentionMs: 1,
        retentionIntervalMs: 3_600_000,
        maxRows: 1_000,
        trimIntervalMs: 3_600_000,
      },
    );
    for (const r of records(0, 3)) log.record(r);
    await log.close();
    expect([dropped, log.stats().dropped, log.stats().written]).toEqual([
      [['store_error', 3]],
      3,
      0,
    ]);
  });

  it('writes in-thread, losing nothing, when the worker cannot start', async () => {
    const { db, dir } = fileDatabase();
    const workerUrl = workerFile(dir, "throw new Error('cannot start');");
    const failures: Error[] = [];
    const store = compiled.createSqliteTrafficLogStore(db, {
      workerUrl,
      onWorkerFailure: (error) => failures.push(error),
    });
    cleanups.push(() => store.close());
    await store.insertBatch(records(0, 3));
    await store.insertBatch(records(3, 3));
    expect([store.writeMode(), failures.length]).toEqual(['in-thread', 1]);
    expect((await store.query({ since: 0, limit: 100 })).length).toBe(6);
  });

  it('rejects the batch a dying worker held and writes later ones in-thread', async () => {
    const { db, dir } = fileDatabase();
    const workerUrl = workerFile(
      dir,
      "import { parentPort } from 'node:worker_threads';\n" +
        'parentPort.postMessage({ id: 0, ready: true });\n' +
        "parentPort.on('message', () => process.exit(1));\n",
    );
    const store = compiled.createSqliteTrafficLogStore(db, { workerUrl });
    cleanups.push(() => store.close());
    await expect(store.insertBatch([record(1)])).rejects.toThrow();
    await store.insertBatch([record(2)]);
    const rows = await store.query({ since: 0, limit: 100 });
    expect([store.writeMode(), rows.map((r) => r.requestId)]).toEqual(['in-thread', ['req_2']]);
  });

  it.runIf(existsSync('/proc/self/task'))(
    'leaves no thread behind once closed, over many stores',
    async () => {
      // The warm-up starts what a first store starts lazily (libuv's pool…); its own writer
      // thread is gone once the count stops including it.
      const beforeWarmUp = threadCount();
      const warmUp = fileStore();
      await warmUp.store.insertBatch([record(0)]);
      const withWarmUpThread = threadCount();
      await warmUp.store.close();
      const before = await threadCountReaching(withWarmUpThread - 1);
      expect(before).toBeGreaterThanOrEqual(beforeWarmUp);
      for (let i = 0; i < 5; i++) {
        const { store } = fileStore();
        await store.insertBatch([record(i)]);
        expect(threadCount()).toBe(before + 1);
        await store.close();
        expect(await threadCountReaching(before)).toBe(before);
      }
    },
  );
});

describe('A compiled runtime with the SQLite traffic log', () => {
  type RuntimeModule = typeof sourceRuntime;
  type ConfigModule = typeof sourceConfig;
  const compiledModule = <T>(path: string) =>
    import(pathToFileURL(join(REPO_ROOT, 'dist', 'src', path)).href) as Promise<T>;

  async function startStop(): Promise<number> {
    const { createRuntime } = await compiledModule<RuntimeModule>('app/runtime.js');
    const { loadConfig } = await compiledModule<ConfigModule>('config/config.js');
    const dir = createTempDir();
    cleanups.push(() => dir.remove());
    const listen = { listen: { host: '127.0.0.1', port: 0 } };
    const config = loadConfig(
      {
        dataDir: dir.path,
        logLevel: 'silent',
        admin: listen,
        environments: { production: listen, sandbox: listen },
      },
      {},
    );
    const runtime = await createRuntime(config, {
      env: { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') },
    });
    await runtime.start();
    await runtime.observability.traffic?.flush();
    const running = threadCount();
    await runtime.stop();
    return running;
  }

  it.runIf(existsSync('/proc/self/task'))(
    'runs a writer thread that ends with stop, start after start',
    async () => {
      await startStop(); // warm-up: thread pools the runtime keeps once started
      const before = threadCount();
      for (let i = 0; i < 3; i++) {
        expect(await startStop()).toBe(before + 1);
        expect(threadCount()).toBe(before);
      }
    },
  );
});

/** A writer deleting 7 rows per statement on an in-memory database that logs its statements. */
function chunkedWriter(maxTrimChunks?: number) {
  const statements: string[] = [];
  const db = new BetterSqlite3(':memory:', {
    verbose: (sql) => statements.push(String(sql)),
  });
  cleanups.push(() => {
    db.close();
  });
  sourceStore.migrateTrafficLog(db);
  const writer = createTrafficLogWriter(db, {
    deleteChunk: 7,
    ...(maxTrimChunks === undefined ? {} : { maxTrimChunks }),
  });
  return { statements, db, writer };
}

describe('the row bound', () => {
  it('deletes the oldest beyond the newest maxRows, one chunk of ids per statement', () => {
    const { statements, db, writer } = chunkedWriter();
    expect(writer.deleteBeyond(5)).toBe(0);
    writer.insertValues(toValues(records(0, 30)));
    // Retention took the oldest 3 already: ids now start at 4.
    writer.deleteOlderThan(T0 + 3);
    statements.length = 0;
    expect(writer.deleteBeyond(5)).toBe(22);
    // Ids 4 to 25 in chunks of 7: four statements, each its own transaction.
    expect(statements.filter((sql) => sql.startsWith('DELETE'))).toHaveLength(4);
    expect(statements.some((sql) => sql.startsWith('BEGIN'))).toBe(false);
    const left = db.prepare('SELECT count(*) AS n, min(ts) AS first FROM traffic_log').get();
    expect(left).toEqual({ n: 5, first: T0 + 25 });
    // New records are kept; the bound holds again on the next trim.
    writer.insertValues(toValues(records(30, 3)));
    expect(writer.deleteBeyond(5)).toBe(3);
    const newest = db.prepare('SELECT ts FROM traffic_log ORDER BY id').all();
    expect(newest).toEqual([29, 30, 31, 32, 33].map((i) => ({ ts: T0 + i - 1 })));
  });
});

describe('a trim of a large backlog', () => {
  it('deletes at most maxTrimChunks chunks per call; the next calls go on', () => {
    const { writer, db } = chunkedWriter(2);
    writer.insertValues(toValues(records(0, 40)));
    // 35 beyond the bound of 5, 7 per chunk, 2 chunks a call: 14, 14, then the last 7.
    expect([writer.deleteBeyond(5), writer.deleteBeyond(5), writer.deleteBeyond(5)]).toEqual([
      14, 14, 7,
    ]);
    expect(writer.deleteBeyond(5)).toBe(0);
    expect(db.prepare('SELECT count(*) AS n FROM traffic_log').get()).toEqual({ n: 5 });
  });
});

describe('retention deletes in chunks', () => {
  it('deletes every older record, one chunk per statement, and keeps the rest', () => {
    const { statements, db, writer } = chunkedWriter();
    writer.insertValues(toValues(records(0, 30)));
    statements.length = 0;
    expect(writer.deleteOlderThan(T0 + 23)).toBe(23);
    // 7 + 7 + 7 + 2: four statements, each its own transaction, so other writers get in between.
    expect(statements.filter((sql) => sql.startsWith('DELETE'))).toHaveLength(4);
    expect(statements.some((sql) => sql.startsWith('BEGIN'))).toBe(false);
    expect(writer.deleteOlderThan(T0 + 23)).toBe(0);
    const left = db.prepare('SELECT count(*) AS n, min(ts) AS first FROM traffic_log').get();
    expect(left).toEqual({ n: 7, first: T0 + 23 });
  });
});
