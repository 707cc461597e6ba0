/**
 * The request-serving side of the traffic log's writer thread (traffic-log-worker.ts): it posts
 * flat batches, retention deletes and queries in call order and settles each call with the
 * thread's answer, so the SQLite inserts cost this event loop only the hand-over, and a query
 * that scans millions of rows (the admin API's traffic filters read the time index and filter:
 * ~0.45 s per 2,000,000 records in the range here) never holds it. Requests wait here
 * until the thread's connection is open; if the thread cannot start they, and every later
 * request, run in this thread on `fallback()` instead. If the thread dies later, the requests
 * it held reject (the traffic log counts them as dropped) and later ones run on the fallback.
 */
import { Worker } from 'node:worker_threads';
import type { TrafficQuery, TrafficRecord } from '../../services/traffic-log.js';
import type {
  TrafficLogReply,
  TrafficLogRequest,
  TrafficLogWorkerData,
  TrafficLogWriter,
  TrafficValue,
} from './traffic-log-writer.js';

/** Where the traffic log's writes run. */
export type TrafficLogWriteMode = 'worker' | 'in-thread';

export interface TrafficLogWrites {
  insertValues(values: TrafficValue[]): Promise<void>;
  deleteOlderThan(ts: number): Promise<number>;
  deleteBeyond(maxRows: number): Promise<number>;
  /** Runs a query where the writes run, after the writes handed over before it. */
  query(query: TrafficQuery): Promise<TrafficRecord[]>;
  mode(): TrafficLogWriteMode;
  /**
   * Waits for the writes in flight, then ends the writer thread (if any); later queries run in
   * this thread. Idempotent.
   */
  close(): Promise<void>;
}

type Op =
  | { readonly op: 'insert'; readonly values: TrafficValue[] }
  | { readonly op: 'delete'; readonly ts: number }
  | { readonly op: 'trim'; readonly maxRows: number }
  | { readonly op: 'query'; readonly query: TrafficQuery };

/** What an operation resolves to: the changes of a write, the records of a query. */
type Outcome = number | TrafficRecord[];

interface Pending {
  readonly request: TrafficLogRequest & Op;
  readonly resolve: (outcome: Outcome) => void;
  readonly reject: (error: Error) => void;
}

const changesOf = (outcome: Outcome): number => (typeof outcome === 'number' ? outcome : 0);
const rowsOf = (outcome: Outcome): TrafficRecord[] => (Array.isArray(outcome) ? outcome : []);

/** Runs the writes synchronously in this thread, as promises that never throw synchronously. */
export function inThreadWrites(writer: () => TrafficLogWriter): TrafficLogWrites {
  let closed = false;
  return {
    insertValues: (values) => run({ op: 'insert', values }).then(() => undefined),
    deleteOlderThan: (ts) => run({ op: 'delete', ts }).then(changesOf),
    deleteBeyond: (maxRows) => run({ op: 'trim', maxRows }).then(changesOf),
    query: (query) => run({ op: 'query', query }).then(rowsOf),
    mode: () => 'in-thread',
    close: () => ((closed = true), Promise.resolve()),
  };
  function run(op: Op): Promise<Outcome> {
    if (closed && op.op !== 'query') return Promise.reject(new Error('traffic log store closed'));
    return runOn(writer, op);
  }
}

function runOn(writer: () => TrafficLogWriter, op: Op): Promise<Outcome> {
  try {
    if (op.op === 'query') return Promise.resolve(writer().query(op.query));
    if (op.op === 'delete') return Promise.resolve(writer().deleteOlderThan(op.ts));
    if (op.op === 'trim') return Promise.resolve(writer().deleteBeyond(op.maxRows));
    writer().insertValues(op.values);
    return Promise.resolve(op.values.length);
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Starts the writer thread from `workerUrl`; throws when it cannot even be spawned. */
export function startTrafficLogThread(
  workerUrl: URL,
  workerData: TrafficLogWorkerData,
  fallback: () => TrafficLogWriter,
  onFailure?: (error: Error) => void,
): TrafficLogWrites {
  // A small heap of its own: the thread only turns batches into rows, and an isolate left to
  // size its heap freely grew the node's RSS by 100-200 MB under load (bench rss_mb).
  const worker = new Worker(workerUrl, {
    workerData,
    resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 },
  });
  // Idle, the thread must not keep the process alive; while a request is outstanding it must,
  // or a caller awaiting it (close at exit) could see the process end first.
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let state: 'starting' | 'ready' | 'failed' = 'starting';
  let closing: Promise<void> | undefined;
  const queued: Pending[] = [];
  const inFlight = new Map<number, Pending>();
  const unsettled = new Set<Promise<Outcome>>();
  let nextId = 1;

  function post(pending: Pending): void {
    inFlight.set(pending.request.id, pending);
    worker.postMessage(pending.request);
  }

  function send(op: Op): Promise<Outcome> {
    // Once closed, queries still read `db` (it stays open), in this thread.
    if (closing !== undefined)
      return op.op === 'query'
        ? runOn(fallback, op)
        : Promise.reject(new Error('traffic log store closed'));
    if (state === 'failed') return runOn(fallback, op);
    const promise = new Promise<Outcome>((resolve, reject) => {
      if (unsettled.size === 0) worker.ref();
      const pending = { request: { id: nextId++, ...op }, resolve, reject };
      if (state === 'ready') post(pending);
      else queued.push(pending);
    });
    unsettled.add(promise);
    const settle = () => {
      unsettled.delete(promise);
      if (unsettled.size === 0) worker.unref();
    };
    promise.then(settle, settle);
    return promise;
  }

  function fail(error: Error): void {
    if (state === 'failed' || (closing !== undefined && unsettled.size === 0)) return;
    state = 'failed';
    onFailure?.(error);
    // Whether the thread committed these before it died is unknown: they count as dropped.
    for (const pending of inFlight.values()) pending.reject(error);
    inFlight.clear();
    // Never handed over: written here, in order.
    for (const pending of queued.splice(0))
      runOn(fallback, pending.request).then(pending.resolve, pending.reject);
  }

  worker.on('message', (reply: TrafficLogReply) => {
    if ('ready' in reply) {
      state = 'ready';
      for (const pending of queued.splice(0)) post(pending);
      return;
    }
    const pending = inFlight.get(reply.id);
    if (pending === undefined) return;
    inFlight.delete(reply.id);
    if (reply.ok) pending.resolve('rows' in reply ? reply.rows : reply.changes);
    else pending.reject(Object.assign(new Error(reply.message), { code: reply.code }));
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`traffic log writer thread exited (${code})`)));

  return {
    insertValues: (values) => send({ op: 'insert', values }).then(() => undefined),
    deleteOlderThan: (ts) => send({ op: 'delete', ts }).then(changesOf),
    deleteBeyond: (maxRows) => send({ op: 'trim', maxRows }).then(changesOf),
    query: (query) => send({ op: 'query', query }).then(rowsOf),
    mode: () => (state === 'failed' ? 'in-thread' : 'worker'),
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...unsettled]);
        if (state !== 'failed') {
          worker.ref();
          worker.postMessage({ id: 0, op: 'close' } satisfies TrafficLogRequest);
        }
        await exited;
      })();
      return closing;
    },
  };
}
