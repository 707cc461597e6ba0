/**
 * SQLite implementation of the risk store (alerts and responses in force). Its tables are
 * control-store migration 4; they are also created here idempotently, for a database of its
 * own (the node-local observability database of earlier versions, tests). The row mapping is
 * shared with the PostgreSQL adapter.
 */
import type { Database } from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from './migrations.js';
import type { Environment } from '../../core/keys/model.js';
import type { ResponseStep } from '../../core/risk/index.js';
import type { Sighting, SightingAnswer, SightingRule } from '../../core/risk/sightings.js';
import type {
  AlertState,
  RiskStore,
  StoredAlert,
  StoredResponse,
} from '../../services/risk-store.js';

/** The DDL of control-store migrations 4 and 5: one text, so the two can never drift apart. */
const RISK_TABLES_SQL = SQLITE_MIGRATIONS.find((m) => m.version === 4)?.sql ?? '';
const SIGHTINGS_SQL = SQLITE_MIGRATIONS.find((m) => m.version === 5)?.sql ?? '';

/** Creates the risk tables if absent (idempotent DDL of migrations 4 and 5). */
export function migrateRiskStore(db: Database): void {
  if (RISK_TABLES_SQL === '' || SIGHTINGS_SQL === '') {
    throw new Error('control-store migration 4 or 5 is missing');
  }
  db.exec(RISK_TABLES_SQL);
  db.exec(SIGHTINGS_SQL);
}

export interface AlertRow {
  id: string;
  state: AlertState;
  signal: string;
  step: ResponseStep;
  environment: Environment;
  key_id: string | null;
  account_id: string | null;
  ip_prefix: string | null;
  observed: number | null;
  threshold: number | null;
  response_id: string | null;
  created_at: number;
  updated_at: number;
  updated_by: string | null;
}

export interface ResponseRow {
  id: string;
  environment: Environment;
  key_id: string | null;
  ip_prefix: string | null;
  action: string;
  reason: string;
  started_at: number;
  expires_at: number | null;
  lifted_at: number | null;
  lifted_by: string | null;
}

const attempt = <T>(work: () => T): Promise<T> => {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
};

/** Creates the store on `db` (migrating it first). */
export function createSqliteRiskStore(db: Database): RiskStore {
  migrateRiskStore(db);
  const insertAlert = db.prepare(`
    INSERT INTO risk_alerts (id, state, signal, step, environment, key_id, account_id, ip_prefix,
      observed, threshold, response_id, created_at, updated_at, updated_by)
    VALUES (@id, @state, @signal, @step, @environment, @key_id, @account_id, @ip_prefix,
      @observed, @threshold, @response_id, @created_at, @updated_at, @updated_by)`);
  const getAlert = db.prepare<[string]>('SELECT * FROM risk_alerts WHERE id = ?');
  const updateAlert = db.prepare<[string, number, string, string]>(
    'UPDATE risk_alerts SET state = ?, updated_at = ?, updated_by = ? WHERE id = ?',
  );
  const insertResponse = db.prepare(`
    INSERT INTO risk_responses (id, environment, key_id, ip_prefix, action, reason, started_at,
      expires_at, lifted_at, lifted_by)
    VALUES (@id, @environment, @key_id, @ip_prefix, @action, @reason, @started_at, @expires_at,
      @lifted_at, @lifted_by)`);
  const lift = db.prepare<[number, string, string]>(
    'UPDATE risk_responses SET lifted_at = ?, lifted_by = ? WHERE id = ? AND lifted_at IS NULL',
  );
  const active = db.prepare<[number]>(
    `SELECT * FROM risk_responses WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
     ORDER BY started_at, id`,
  );
  const sightingKey = 'environment = ? AND subject_type = ? AND subject_id = ? AND kind = ?';
  const lastSeen = db.prepare<[string, string, string, string, string]>(
    `SELECT last_seen FROM risk_sightings WHERE ${sightingKey} AND value = ?`,
  );
  const upsertSighting = db.prepare<[string, string, string, string, string, number, number]>(
    `INSERT INTO risk_sightings (environment, subject_type, subject_id, kind, value, first_seen,
       last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
  );
  const countOthers = db.prepare<[string, string, string, string, string, number]>(
    `SELECT count(*) AS n FROM risk_sightings WHERE ${sightingKey} AND value <> ? AND last_seen >= ?`,
  );
  const pruneSightings = db.prepare<
    [string, string, string, string, string, string, string, string, number]
  >(
    `DELETE FROM risk_sightings WHERE ${sightingKey} AND value NOT IN (
       SELECT value FROM risk_sightings WHERE ${sightingKey}
       ORDER BY last_seen DESC, value LIMIT ?)`,
  );
  // IMMEDIATE: processes sharing the file (embedded plugins) serialise on the write lock, so of
  // two concurrent sightings of a new value exactly one reads it absent.
  const sight = db.transaction((s: Sighting, rule: SightingRule): SightingAnswer => {
    const key = [s.environment, s.subject.type, s.subject.id, s.kind] as const;
    const previous = lastSeen.get(...key, s.value) as { last_seen: number } | undefined;
    const { n } = countOthers.get(...key, s.value, rule.sinceMs) as { n: number };
    upsertSighting.run(...key, s.value, s.atMs, s.atMs);
    if (rule.keep > 0) pruneSightings.run(...key, ...key, rule.keep);
    return { first: previous === undefined || previous.last_seen < rule.sinceMs, others: n };
  });
  const relaxed = relaxedSync(db);
  return {
    sight: (s, rule) => attempt(() => relaxed(() => sight.immediate(s, rule))),
    insertAlert: (a) => attempt(() => void insertAlert.run(alertRow(a))),
    getAlert: (id) =>
      attempt(() => {
        const row = getAlert.get(id) as AlertRow | undefined;
        return row === undefined ? undefined : fromAlertRow(row);
      }),
    updateAlert: (id, state, atMs, by) => attempt(() => void updateAlert.run(state, atMs, by, id)),
    listAlerts: (q) =>
      attempt(() => {
        const where: string[] = [];
        const params: (string | number)[] = [];
        const filters = [
          ['environment', q.environment],
          ['state', q.state],
          ['key_id', q.keyId],
        ] as const;
        for (const [column, value] of filters) {
          if (value === undefined) continue;
          where.push(`${column} = ?`);
          params.push(value);
        }
        const sql = `SELECT * FROM risk_alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY created_at DESC, id DESC LIMIT ?`;
        return (db.prepare(sql).all(...params, q.limit) as AlertRow[]).map(fromAlertRow);
      }),
    insertResponse: (r) => attempt(() => void insertResponse.run(responseRow(r))),
    liftResponse: (id, atMs, by) => attempt(() => void lift.run(atMs, by, id)),
    listActiveResponses: (nowMs) =>
      attempt(() => (active.all(nowMs) as ResponseRow[]).map(fromResponseRow)),
  };
}

/** SQLite's `PRAGMA synchronous` levels (https://sqlite.org/pragma.html#pragma_synchronous). */
const SYNC_NORMAL = 1;

/**
 * Runs sightings without an fsync of their own. A sighting is detection's memory of where a key
 * was seen, written on the main thread when a key is first seen from a prefix (every key after a
 * restart, then hourly): under the control store's `synchronous = FULL` each one waited for an
 * fsync of the WAL, ~250–300 µs of blocked event loop on this machine's disk, and a gateway
 * whose 10,000 keys were cold answered 800–900 signed GETs a second (1,700–1,800 with this). In WAL mode
 * `NORMAL` stays consistent (https://sqlite.org/wal.html#performance_considerations) and loses
 * only the latest commits on a power loss or OS crash, never on a crash of the process; the next
 * FULL commit (any control-plane change) or checkpoint makes them durable too. A lost sighting
 * costs at most one repeated `new_ip_prefix` signal. Every other write keeps FULL: the level is
 * restored as soon as the sighting commits. Other journal modes, lower levels (the bench's
 * OFF) and a call inside an open transaction run unchanged.
 */
export function relaxedSync(db: Database): <T>(work: () => T) => T {
  const mode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
  const level = Number(db.pragma('synchronous', { simple: true }));
  if (mode !== 'wal' || !(level > SYNC_NORMAL)) return (work) => work();
  return (work) => {
    if (db.inTransaction) return work();
    db.pragma(`synchronous = ${SYNC_NORMAL}`);
    try {
      return work();
    } finally {
      db.pragma(`synchronous = ${level}`);
    }
  };
}

/** The response as a row (its action as JSON text). */
export function responseRow(r: StoredResponse): ResponseRow {
  return {
    id: r.id,
    environment: r.environment,
    key_id: r.keyId,
    ip_prefix: r.ipPrefix,
    action: JSON.stringify(r.action),
    reason: r.reason,
    started_at: r.startedAtMs,
    expires_at: r.expiresAtMs,
    lifted_at: r.liftedAtMs,
    lifted_by: r.liftedBy,
  };
}

export function fromResponseRow(row: ResponseRow): StoredResponse {
  return {
    id: row.id,
    environment: row.environment,
    keyId: row.key_id,
    ipPrefix: row.ip_prefix,
    action: JSON.parse(row.action) as StoredResponse['action'],
    reason: row.reason,
    startedAtMs: row.started_at,
    expiresAtMs: row.expires_at,
    liftedAtMs: row.lifted_at,
    liftedBy: row.lifted_by,
  };
}

export function alertRow(a: StoredAlert): AlertRow {
  return {
    id: a.id,
    state: a.state,
    signal: a.signal,
    step: a.step,
    environment: a.environment,
    key_id: a.keyId,
    account_id: a.accountId,
    ip_prefix: a.ipPrefix,
    observed: a.observed,
    threshold: a.threshold,
    response_id: a.responseId,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
    updated_by: a.updatedBy,
  };
}

export function fromAlertRow(r: AlertRow): StoredAlert {
  return {
    id: r.id,
    state: r.state,
    signal: r.signal,
    step: r.step,
    environment: r.environment,
    keyId: r.key_id,
    accountId: r.account_id,
    ipPrefix: r.ip_prefix,
    observed: r.observed,
    threshold: r.threshold,
    responseId: r.response_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
  };
}

/**
 * Moves what a node-local database of an earlier version holds (responses in force, alerts not
 * resolved) into the control store's risk tables, once: the local tables are renamed afterwards
 * (`…_moved`), so a later start finds nothing to move. Returns how many were moved.
 */
export async function moveLocalRiskRows(
  db: Database,
  to: RiskStore,
  nowMs: number,
): Promise<{ responses: number; alerts: number }> {
  const exists = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'risk_responses'",
    )
    .get();
  if (exists === undefined) return { responses: 0, alerts: 0 };
  const local = createSqliteRiskStore(db);
  const moved = { responses: 0, alerts: 0 };
  // A row already there comes from a move cut short before the rename: skipped, not doubled.
  const there = new Set((await to.listActiveResponses(nowMs)).map((r) => r.id));
  for (const r of await local.listActiveResponses(nowMs)) {
    if (there.has(r.id)) continue;
    await to.insertResponse(r);
    moved.responses += 1;
  }
  for (const state of ['open', 'acknowledged'] as const) {
    for (const a of await local.listAlerts({ state, limit: 100_000 })) {
      if ((await to.getAlert(a.id)) !== undefined) continue;
      await to.insertAlert(a);
      moved.alerts += 1;
    }
  }
  db.exec(`ALTER TABLE risk_responses RENAME TO risk_responses_moved;
    ALTER TABLE risk_alerts RENAME TO risk_alerts_moved;`);
  return moved;
}
