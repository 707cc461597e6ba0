/**
 * The traffic log: one record per data-plane request, written off the request path. `record`
 * only appends to a bounded in-memory buffer; a timer (or a full batch) flushes it to the store
 * in batches, and another timer applies retention. When the buffer is full the OLDEST record is
 * dropped and counted (`onDropped`): recent traffic is worth more during an incident, and the
 * request path never waits for storage.
 */
import type { Clock } from '../core/clock.js';
import type { Environment } from '../core/keys/model.js';

export interface TrafficRecord {
  /** Epoch milliseconds when the request arrived. */
  readonly ts: number;
  readonly requestId: string;
  readonly environment: Environment;
  readonly keyId?: string;
  readonly accountId?: string;
  readonly ip: string;
  readonly method: string;
  /** The route action name; absent when no route matched. */
  readonly action?: string;
  readonly decision: 'allow' | 'deny' | 'public';
  readonly reason?: string;
  readonly status: number;
  readonly pipelineUs: number;
  readonly upstreamMs?: number;
  readonly totalMs: number;
}

export interface TrafficQuery {
  readonly environment?: Environment;
  readonly keyId?: string;
  readonly accountId?: string;
  readonly reason?: string;
  /** Inclusive lower bound on `ts`. */
  readonly since: number;
  /** Exclusive upper bound on `ts`. */
  readonly until?: number;
  readonly limit: number;
}

/** Storage port of the traffic log; newest first from `query`. */
export interface TrafficLogStore {
  insertBatch(records: readonly TrafficRecord[]): Promise<void>;
  query(query: TrafficQuery): Promise<TrafficRecord[]>;
  /** Deletes records with `ts` < `ts`; resolves to how many were deleted. */
  deleteOlderThan(ts: number): Promise<number>;
  /** Deletes the oldest records beyond the newest `maxRows`; resolves to how many. */
  deleteBeyond(maxRows: number): Promise<number>;
}

/** The timer functions used, injectable for tests. */
export interface Timers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  setInterval: (fn, ms) => {
    const handle = setInterval(fn, ms);
    // Bookkeeping timers must not keep the process alive.
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface TrafficLogOptions {
  /** Records held in memory at most; beyond it the oldest is dropped. */
  readonly maxBuffered: number;
  /** Records per insert; a full batch is flushed without waiting for the timer. */
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  /** Records older than this are deleted. */
  readonly retentionMs: number;
  readonly retentionIntervalMs: number;
  /**
   * Records kept at most, whatever their age: the oldest beyond it are deleted every
   * `trimIntervalMs`, so that a busy node's log cannot fill its disk within the retention
   * (about 240 bytes a record on SQLite: 10,000,000 records are about 2.4 GB).
   */
  readonly maxRows: number;
  readonly trimIntervalMs: number;
}

export const DEFAULT_TRAFFIC_LOG_OPTIONS: TrafficLogOptions = {
  maxBuffered: 50_000,
  batchSize: 500,
  flushIntervalMs: 1000,
  retentionMs: 7 * 86_400_000,
  retentionIntervalMs: 3_600_000,
  maxRows: 10_000_000,
  trimIntervalMs: 60_000,
};

export interface TrafficLogDeps {
  readonly store: TrafficLogStore;
  readonly clock: Clock;
  readonly timers?: Timers;
  /** Called with the number of records dropped and why (wire to the metrics). */
  readonly onDropped?: (cause: 'buffer_full' | 'store_error', count: number) => void;
  readonly onWritten?: (count: number) => void;
  /** Called with the number of records deleted because the log held more than `maxRows`. */
  readonly onTrimmed?: (count: number) => void;
  /** A store failure; the error never contains record contents. */
  readonly onError?: (error: unknown) => void;
}

export interface TrafficLog {
  /** Appends one record; never blocks, never throws. */
  record(record: TrafficRecord): void;
  /** Writes everything buffered now (one batch after another). */
  flush(): Promise<void>;
  /** Applies retention now; resolves to the number of records deleted. */
  sweep(): Promise<number>;
  /** Deletes the oldest records beyond `maxRows` now; resolves to how many. */
  trim(): Promise<number>;
  query(query: TrafficQuery): Promise<TrafficRecord[]>;
  stats(): { buffered: number; dropped: number; written: number };
  /** Stops the timers and flushes what is left. */
  close(): Promise<void>;
}

/** Creates the traffic log and starts its flush and retention timers. */
export function createTrafficLog(
  deps: TrafficLogDeps,
  options: TrafficLogOptions = DEFAULT_TRAFFIC_LOG_OPTIONS,
): TrafficLog {
  const timers = deps.timers ?? systemTimers;
  const buffer = createRing<TrafficRecord>(Math.max(1, options.maxBuffered));
  let dropped = 0;
  let written = 0;
  let chain: Promise<void> = Promise.resolve();
  let soon: unknown;
  let closed = false;

  async function drain(): Promise<void> {
    while (buffer.size > 0) {
      const batch = buffer.take(options.batchSize);
      try {
        await deps.store.insertBatch(batch);
        written += batch.length;
        deps.onWritten?.(batch.length);
      } catch (error) {
        // The traffic log is not the audit log: a failed batch is counted and dropped rather
        // than retried into an ever-growing backlog.
        dropped += batch.length;
        deps.onDropped?.('store_error', batch.length);
        deps.onError?.(error);
        return;
      }
    }
  }

  function flush(): Promise<void> {
    // Flushes run one after another, so batches stay in order and everything recorded before
    // a call is written (or counted as dropped) when its promise resolves. drain never rejects.
    chain = chain.then(drain);
    return chain;
  }

  const flushTimer = timers.setInterval(() => void flush(), options.flushIntervalMs);
  const sweepTimer = timers.setInterval(
    () => void sweep().catch((error: unknown) => deps.onError?.(error)),
    options.retentionIntervalMs,
  );

  const trimTimer = timers.setInterval(
    () => void trim().catch((error: unknown) => deps.onError?.(error)),
    options.trimIntervalMs,
  );

  function sweep(): Promise<number> {
    return deps.store.deleteOlderThan(deps.clock.now() - options.retentionMs);
  }

  async function trim(): Promise<number> {
    const deleted = await deps.store.deleteBeyond(options.maxRows);
    if (deleted > 0) deps.onTrimmed?.(deleted);
    return deleted;
  }

  return {
    record(record) {
      if (closed) return;
      if (buffer.push(record)) {
        dropped += 1;
        deps.onDropped?.('buffer_full', 1);
      }
      if (buffer.size >= options.batchSize && soon === undefined) {
        // Off the request path: the batch is written on a later turn of the event loop.
        soon = timers.setTimeout(() => {
          soon = undefined;
          void flush();
        }, 0);
      }
    },
    flush,
    sweep,
    trim,
    query: (query) => deps.store.query(query),
    stats: () => ({ buffered: buffer.size, dropped, written }),
    async close() {
      closed = true;
      timers.clearInterval(flushTimer);
      timers.clearInterval(sweepTimer);
      timers.clearInterval(trimTimer);
      if (soon !== undefined) timers.clearTimeout(soon);
      await flush();
    },
  };
}

/** A fixed-capacity FIFO; `push` overwrites the oldest entry when full and says so. */
function createRing<T>(capacity: number) {
  const slots: (T | undefined)[] = new Array<T | undefined>(capacity);
  let head = 0;
  let size = 0;
  return {
    get size() {
      return size;
    },
    /** True when an older entry was overwritten. */
    push(value: T): boolean {
      slots[(head + size) % capacity] = value;
      if (size < capacity) {
        size += 1;
        return false;
      }
      head = (head + 1) % capacity;
      return true;
    },
    take(max: number): T[] {
      const n = Math.min(max, size);
      const out: T[] = [];
      for (let i = 0; i < n; i++) {
        const index = (head + i) % capacity;
        const value = slots[index];
        slots[index] = undefined;
        if (value !== undefined) out.push(value);
      }
      head = (head + n) % capacity;
      size -= n;
      return out;
    },
  };
}
