/**
 * SQLite implementation of the traffic-log store. Its table lives beside the control store's
 * (same Database or file) but is created here, idempotently, so the control store's versioned
 * migrations stay untouched. Indexes serve the admin API's queries: by key and time, and by time
 * (environment, account and reason filtered within the time range). Writes (batches and
 * retention) and queries run on a writer thread with its own connection to the file
 * (traffic-log-thread.ts), so that a query scanning millions of rows never holds the event loop.
 */
import type { Database } from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrafficLogStore } from '../../services/traffic-log.js';
import {
  inThreadWrites,
  startTrafficLogThread,
  type TrafficLogWrites,
  type TrafficLogWriteMode,
} from './traffic-log-thread.js';
import { createTrafficLogWriter, toValues, type TrafficLogWriter } from './traffic-log-writer.js';

export { MAX_TRAFFIC_QUERY_ROWS } from './traffic-log-writer.js';

/** Creates the traffic_log table and its indexes if absent. */
export function migrateTrafficLog(db: Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS traffic_log (
      id INTEGER PRIMARY KEY,
      ts INTEGER NOT NULL,
      request_id TEXT NOT NULL,
      environment TEXT NOT NULL CHECK (environment IN ('sandbox', 'production')),
      key_id TEXT,
      account_id TEXT,
      ip TEXT NOT NULL,
      method TEXT NOT NULL,
      action TEXT,
      decision TEXT NOT NULL CHECK (decision IN ('allow', 'deny', 'public')),
      reason TEXT,
      status INTEGER NOT NULL,
      pipeline_us REAL NOT NULL,
      upstream_ms REAL,
      total_ms REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS traffic_log_key_ts ON traffic_log(key_id, ts) WHERE key_id IS NOT NULL;
    CREATE INDEX IF NOT EXISTS traffic_log_ts ON traffic_log(ts);
    -- Each index costs about 3 µs per inserted row on the writing event loop (bench
    -- observability_overhead): an environment has two values and an account query is a time
    -- range too, so those two read the (ts) index and filter instead.
    DROP INDEX IF EXISTS traffic_log_env_ts;
    DROP INDEX IF EXISTS traffic_log_account_ts;
  `);
}

export interface SqliteTrafficLogStore extends TrafficLogStore {
  /** Where batches and retention deletes run now. */
  writeMode(): TrafficLogWriteMode;
  /** Waits for the writes in flight and ends the writer thread; `db` stays open. Idempotent. */
  close(): Promise<void>;
}

export interface SqliteTrafficLogStoreOptions {
  /**
   * The writer thread's entry, `false` for writes in this thread. By default the compiled
   * traffic-log-worker.js beside this module, when it exists (not under vitest, which runs the
   * .ts sources: a worker cannot load those).
   */
  readonly workerUrl?: URL | false;
  /** How long a write waits for a lock held by another connection to the file. */
  readonly busyTimeoutMs?: number;
  /** The writer thread failed; writes continue in this thread. */
  readonly onWorkerFailure?: (error: Error) => void;
}

/** Creates the store on `db` (migrating it first). Promises reject, never throw synchronously. */
export function createSqliteTrafficLogStore(
  db: Database,
  options: SqliteTrafficLogStoreOptions = {},
): SqliteTrafficLogStore {
  migrateTrafficLog(db);
  let writer: TrafficLogWriter | undefined;
  const local = () => (writer ??= createTrafficLogWriter(db));
  const writes = startWrites(db, options, local);

  return {
    insertBatch: (records) => writes.insertValues(toValues(records)),
    deleteOlderThan: (ts) => writes.deleteOlderThan(ts),
    deleteBeyond: (maxRows) => writes.deleteBeyond(maxRows),
    query: (query) => writes.query(query),
    writeMode: () => writes.mode(),
    close: () => writes.close(),
  };
}

const DEFAULT_WORKER_URL = new URL('./traffic-log-worker.js', import.meta.url);

/**
 * The writer thread, or in-thread writes as before when there is no file for a second
 * connection to open (an in-memory database, as in tests), no compiled worker (vitest), or the
 * thread cannot be spawned.
 */
function startWrites(
  db: Database,
  options: SqliteTrafficLogStoreOptions,
  local: () => TrafficLogWriter,
): TrafficLogWrites {
  const workerUrl = options.workerUrl ?? DEFAULT_WORKER_URL;
  if (db.memory || workerUrl === false || !existsSync(fileURLToPath(workerUrl)))
    return inThreadWrites(local);
  try {
    return startTrafficLogThread(
      workerUrl,
      { filename: resolve(db.name), busyTimeoutMs: options.busyTimeoutMs ?? 5000 },
      local,
      options.onWorkerFailure,
    );
  } catch (error) {
    options.onWorkerFailure?.(error instanceof Error ? error : new Error(String(error)));
    return inThreadWrites(local);
  }
}
