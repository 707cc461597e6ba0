/**
 * Entry of the traffic log's writer thread (started by traffic-log-thread.ts): it owns its own
 * connection to the database file and runs the batch inserts, retention deletes and queries, one
 * request after another in arrival order, so the request-serving thread only posts flat batches. Runs
 * only from the compiled build (a worker cannot load a .ts file).
 */
import BetterSqlite3 from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import {
  FIELDS_PER_RECORD,
  createTrafficLogWriter,
  type TrafficLogReply,
  type TrafficLogRequest,
  type TrafficLogWorkerData,
} from './traffic-log-writer.js';

if (parentPort === null) throw new Error('traffic-log-worker runs only as a worker thread');
const port = parentPort;
const data = workerData as TrafficLogWorkerData;

// The busy timeout makes a write lock held by the main connection (key last uses, risk rows)
// a wait rather than a failed, dropped batch. WAL mode is the file's, set by the main connection.
const db = new BetterSqlite3(data.filename, { fileMustExist: true, timeout: data.busyTimeoutMs });
// As on the main connection: traffic is not the audit log, no fsync per batch.
db.pragma('synchronous = OFF');
const writer = createTrafficLogWriter(db);

function handle(request: Exclude<TrafficLogRequest, { op: 'close' }>): TrafficLogReply {
  try {
    if (request.op === 'query')
      return { id: request.id, ok: true, rows: writer.query(request.query) };
    const changes =
      request.op === 'insert'
        ? (writer.insertValues(request.values), request.values.length / FIELDS_PER_RECORD)
        : request.op === 'delete'
          ? writer.deleteOlderThan(request.ts)
          : writer.deleteBeyond(request.maxRows);
    return { id: request.id, ok: true, changes };
  } catch (error) {
    // SQLite's messages name tables and constraints, never the bound values.
    const { code, message } = error as { code?: unknown; message?: unknown };
    return {
      id: request.id,
      ok: false,
      code: typeof code === 'string' ? code : 'TRAFFIC_LOG_WRITE_FAILED',
      message: typeof message === 'string' ? message : 'traffic log write failed',
    };
  }
}

port.on('message', (request: TrafficLogRequest) => {
  if (request.op === 'close') {
    db.close();
    port.close(); // nothing else keeps the thread alive: it exits
    return;
  }
  port.postMessage(handle(request));
});
port.postMessage({ id: 0, ready: true } satisfies TrafficLogReply);
