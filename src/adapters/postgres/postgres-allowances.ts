/**
 * Spend allowances over PostgreSQL (READ COMMITTED, several nodes on one database). A hold locks
 * the key's allowance rows of its kind (`SELECT … FOR UPDATE`, in id order) before it reads their
 * usage, so two spends decide one after the other on the latest counters and cannot pass an
 * allowance together. Settling deletes the hold rows first (`DELETE … RETURNING`: of two
 * settlers of one hold, the second finds nothing), then locks the allowances it gives back to.
 * Both take hold rows before allowance rows, so they never wait on each other in opposite orders.
 */
import { holdAllowances, releaseHold } from '../../core/transactions/allowance-ledger.js';
import type { AllowanceUsage } from '../../core/transactions/spend-allowance.js';
import type { AllowanceStore } from '../../ports.js';
import {
  ALLOWANCE_COLUMNS,
  HOLD_COLUMNS,
  HOLD_HORIZON_MS,
  allowanceFromRow,
  allowanceValues,
  holdFromRow,
  holdValues,
  storedAllowanceFromRow,
  usageFromRow,
  type AllowanceRow,
  type HoldRow,
} from '../sqlite/allowance-rows.js';
import type { PgQueryable } from './pg-pool.js';
import type { PostgresTx } from './postgres-governance.js';

const writeUsage = (client: PgQueryable, usage: AllowanceUsage) =>
  client.query(
    'UPDATE key_allowances SET usage_period_start = $2, usage_spent = $3 WHERE id = $1',
    [usage.allowanceId, usage.periodStart, usage.spent],
  );

export function createPostgresAllowances(pg: PostgresTx): AllowanceStore {
  return {
    addAllowance: (allowance, createdAt, audit) =>
      pg.tx(async (client) => {
        await client.query(
          `INSERT INTO key_allowances (${ALLOWANCE_COLUMNS})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
          allowanceValues(allowance, createdAt),
        );
        await pg.appendInTx(client, audit);
      }),
    async listAllowances(keyId) {
      const rows = await pg.read<AllowanceRow>(
        `SELECT ${ALLOWANCE_COLUMNS} FROM key_allowances WHERE key_id = $1
         ORDER BY created_at, id`,
        [keyId],
      );
      return rows.map(storedAllowanceFromRow);
    },
    removeAllowance: (keyId, allowanceId, audit) =>
      pg.tx(async (client) => {
        const removed = await client.query(
          'DELETE FROM key_allowances WHERE key_id = $1 AND id = $2 RETURNING id',
          [keyId, allowanceId],
        );
        if (removed.rows.length !== 1) return false;
        await client.query('DELETE FROM allowance_holds WHERE allowance_id = $1', [allowanceId]);
        await pg.appendInTx(client, audit);
        return true;
      }),
    async holdAllowances(spend, nowMs) {
      // Most keys have no allowance: one plain read, no transaction.
      const any = await pg.read(
        'SELECT 1 FROM key_allowances WHERE key_id = $1 AND kind = $2 LIMIT 1',
        [spend.keyId, spend.kind],
      );
      if (any.length === 0) return { ok: true, held: false };
      return pg.tx(async (client) => {
        await client.query('DELETE FROM allowance_holds WHERE key_id = $1 AND created_at <= $2', [
          spend.keyId,
          nowMs - HOLD_HORIZON_MS,
        ]);
        const rows = (
          await client.query<AllowanceRow>(
            `SELECT ${ALLOWANCE_COLUMNS} FROM key_allowances WHERE key_id = $1 AND kind = $2
             ORDER BY id FOR UPDATE`,
            [spend.keyId, spend.kind],
          )
        ).rows;
        const usages = new Map<string, AllowanceUsage>();
        for (const row of rows) {
          const usage = usageFromRow(row);
          if (usage) usages.set(row.id, usage);
        }
        const decision = holdAllowances(rows.map(allowanceFromRow), usages, spend, nowMs);
        if (!decision.ok || !decision.held) return decision;
        for (const usage of decision.usages) await writeUsage(client, usage);
        for (const hold of decision.holds) {
          await client.query(
            `INSERT INTO allowance_holds (${HOLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`,
            holdValues(hold),
          );
        }
        return decision;
      });
    },
    settleAllowanceHold: (holdId, outcome) =>
      pg.tx(async (client) => {
        const holds = (
          await client.query<HoldRow>(
            `DELETE FROM allowance_holds WHERE id = $1 RETURNING ${HOLD_COLUMNS}`,
            [holdId],
          )
        ).rows.map(holdFromRow);
        if (holds.length === 0) return false;
        if (outcome === 'commit') return true;
        const rows = (
          await client.query<AllowanceRow>(
            `SELECT ${ALLOWANCE_COLUMNS} FROM key_allowances WHERE id = ANY($1::text[])
             ORDER BY id FOR UPDATE`,
            [holds.map((h) => h.allowanceId)],
          )
        ).rows;
        for (const row of rows) {
          const hold = holds.find((h) => h.allowanceId === row.id);
          const usage = hold && releaseHold(usageFromRow(row), hold);
          if (usage) await writeUsage(client, usage);
        }
        return true;
      }),
  };
}
