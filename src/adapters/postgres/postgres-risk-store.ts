/**
 * The risk store (alerts and anomaly responses in force) over the cluster's PostgreSQL: every
 * node reads the same responses, so a step-down decided on one node holds on all of them
 * (control-store migrations 4 and 5; rows mapped as in the SQLite adapter). Each method is a single
 * statement; a lift is conditional (`lifted_at IS NULL`), so two nodes lifting the same response
 * keep the first operator's name and time.
 */
import type { RiskStore } from '../../services/risk-store.js';
import {
  alertRow,
  fromAlertRow,
  fromResponseRow,
  responseRow,
  type AlertRow,
  type ResponseRow,
} from '../sqlite/risk-store.js';
import type { PostgresTx } from './postgres-governance.js';

const ALERT_COLUMNS = `id, state, signal, step, environment, key_id, account_id, ip_prefix,
  observed, threshold, response_id, created_at, updated_at, updated_by`;
const RESPONSE_COLUMNS = `id, environment, key_id, ip_prefix, action, reason, started_at,
  expires_at, lifted_at, lifted_by`;

const SIGHTING_KEY = 'environment = $1 AND subject_type = $2 AND subject_id = $3 AND kind = $4';

/**
 * Builds the risk store on the control store's pool (`read`: one pooled statement; `tx`: a
 * transaction, for sightings).
 */
export function createPostgresRiskStore(pg: Pick<PostgresTx, 'read' | 'tx'>): RiskStore {
  return {
    /**
     * The row is inserted if absent, else locked: of concurrent sightings of a new value (on any
     * node) exactly one inserts it, and of sightings of a forgotten one the first to lock it
     * reads the old time and the others the time it wrote.
     */
    sight(s, rule) {
      const key = [s.environment, s.subject.type, s.subject.id, s.kind];
      return pg.tx(async (client) => {
        const inserted = await client.query(
          `INSERT INTO risk_sightings (environment, subject_type, subject_id, kind, value,
             first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $6)
           ON CONFLICT DO NOTHING RETURNING 1`,
          [...key, s.value, s.atMs],
        );
        let first = inserted.rows.length === 1;
        if (!first) {
          const locked = await client.query<{ last_seen: string }>(
            `SELECT last_seen FROM risk_sightings WHERE ${SIGHTING_KEY} AND value = $5 FOR UPDATE`,
            [...key, s.value],
          );
          first = Number(locked.rows[0]?.last_seen ?? 0) < rule.sinceMs;
          await client.query(
            `UPDATE risk_sightings SET last_seen = GREATEST(last_seen, $6)
             WHERE ${SIGHTING_KEY} AND value = $5`,
            [...key, s.value, s.atMs],
          );
        }
        const counted = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM risk_sightings
           WHERE ${SIGHTING_KEY} AND value <> $5 AND last_seen >= $6`,
          [...key, s.value, rule.sinceMs],
        );
        if (rule.keep > 0) {
          await client.query(
            `DELETE FROM risk_sightings WHERE ${SIGHTING_KEY} AND value NOT IN (
               SELECT value FROM risk_sightings WHERE ${SIGHTING_KEY}
               ORDER BY last_seen DESC, value LIMIT $5)`,
            [...key, rule.keep],
          );
        }
        return { first, others: Number(counted.rows[0]?.n ?? 0) };
      });
    },
    async insertAlert(alert) {
      const r = alertRow(alert);
      await pg.read(
        `INSERT INTO risk_alerts (${ALERT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
        [
          r.id,
          r.state,
          r.signal,
          r.step,
          r.environment,
          r.key_id,
          r.account_id,
          r.ip_prefix,
          r.observed,
          r.threshold,
          r.response_id,
          r.created_at,
          r.updated_at,
          r.updated_by,
        ],
      );
    },
    async getAlert(id) {
      const [row] = await pg.read<AlertRow>(
        `SELECT ${ALERT_COLUMNS} FROM risk_alerts WHERE id = $1`,
        [id],
      );
      return row && fromAlertRow(row);
    },
    async updateAlert(id, state, atMs, by) {
      await pg.read(
        'UPDATE risk_alerts SET state = $1, updated_at = $2, updated_by = $3 WHERE id = $4',
        [state, atMs, by, id],
      );
    },
    async listAlerts(q) {
      const where: string[] = [];
      const values: (string | number)[] = [];
      const filters = [
        ['environment', q.environment],
        ['state', q.state],
        ['key_id', q.keyId],
      ] as const;
      for (const [column, value] of filters) {
        if (value === undefined) continue;
        values.push(value);
        where.push(`${column} = $${values.length}`);
      }
      values.push(q.limit);
      const rows = await pg.read<AlertRow>(
        `SELECT ${ALERT_COLUMNS} FROM risk_alerts
         ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
        values,
      );
      return rows.map(fromAlertRow);
    },
    async insertResponse(response) {
      const r = responseRow(response);
      await pg.read(
        `INSERT INTO risk_responses (${RESPONSE_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          r.id,
          r.environment,
          r.key_id,
          r.ip_prefix,
          r.action,
          r.reason,
          r.started_at,
          r.expires_at,
          r.lifted_at,
          r.lifted_by,
        ],
      );
    },
    async liftResponse(id, atMs, by) {
      await pg.read(
        'UPDATE risk_responses SET lifted_at = $1, lifted_by = $2 WHERE id = $3 AND lifted_at IS NULL',
        [atMs, by, id],
      );
    },
    async listActiveResponses(nowMs) {
      const rows = await pg.read<ResponseRow>(
        `SELECT ${RESPONSE_COLUMNS} FROM risk_responses
         WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
         ORDER BY started_at, id`,
        [nowMs],
      );
      return rows.map(fromResponseRow);
    },
  };
}
