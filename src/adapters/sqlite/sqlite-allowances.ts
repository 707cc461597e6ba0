/**
 * Spend allowances over SQLite. A hold reads the key's allowances of its kind and their usage,
 * decides with `holdAllowances` and writes the new usage inside one BEGIN IMMEDIATE
 * transaction: concurrent spends (other connections, other processes) decide one after the
 * other on the latest counters.
 */
import {
  holdAllowances,
  releaseHold,
  type AllowanceHold,
} from '../../core/transactions/allowance-ledger.js';
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
} from './allowance-rows.js';
import type { SqliteTx } from './sqlite-governance.js';

export function createSqliteAllowances(sql: SqliteTx): AllowanceStore {
  const p = (text: string) => sql.db.prepare(text);
  const s = {
    insert: p(`INSERT INTO key_allowances (${ALLOWANCE_COLUMNS})
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    ofKey: p('SELECT * FROM key_allowances WHERE key_id = ? ORDER BY created_at, id'),
    anyOfKind: p('SELECT 1 FROM key_allowances WHERE key_id = ? AND kind = ? LIMIT 1'),
    ofKind: p('SELECT * FROM key_allowances WHERE key_id = ? AND kind = ? ORDER BY id'),
    byId: p('SELECT * FROM key_allowances WHERE id = ?'),
    remove: p('DELETE FROM key_allowances WHERE key_id = ? AND id = ?'),
    removeHoldsOf: p('DELETE FROM allowance_holds WHERE allowance_id = ?'),
    setUsage: p('UPDATE key_allowances SET usage_period_start = ?, usage_spent = ? WHERE id = ?'),
    pruneHolds: p('DELETE FROM allowance_holds WHERE key_id = ? AND created_at <= ?'),
    insertHold: p(`INSERT INTO allowance_holds (${HOLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`),
    holds: p('SELECT * FROM allowance_holds WHERE id = ? ORDER BY allowance_id'),
    removeHolds: p('DELETE FROM allowance_holds WHERE id = ?'),
  };
  const writeUsage = (usage: AllowanceUsage) =>
    s.setUsage.run(usage.periodStart, usage.spent, usage.allowanceId);

  return {
    addAllowance: (allowance, createdAt, audit) =>
      settle(() => {
        sql.tx(() => {
          s.insert.run(...allowanceValues(allowance, createdAt));
          sql.appendInTx(audit);
        });
      }),
    listAllowances: (keyId) =>
      settle(() => (s.ofKey.all(keyId) as AllowanceRow[]).map(storedAllowanceFromRow)),
    removeAllowance: (keyId, allowanceId, audit) =>
      settle(() =>
        sql.tx(() => {
          if (s.remove.run(keyId, allowanceId).changes !== 1) return false;
          s.removeHoldsOf.run(allowanceId);
          sql.appendInTx(audit);
          return true;
        }),
      ),
    holdAllowances: (spend, nowMs) =>
      settle(() => {
        // Most keys have no allowance: answered without taking the write lock.
        if (s.anyOfKind.get(spend.keyId, spend.kind) === undefined) {
          return { ok: true as const, held: false as const };
        }
        return sql.tx(() => {
          const rows = s.ofKind.all(spend.keyId, spend.kind) as AllowanceRow[];
          if (rows.length === 0) return { ok: true as const, held: false as const };
          const usages = new Map<string, AllowanceUsage>();
          for (const row of rows) {
            const usage = usageFromRow(row);
            if (usage) usages.set(row.id, usage);
          }
          const decision = holdAllowances(rows.map(allowanceFromRow), usages, spend, nowMs);
          if (!decision.ok || !decision.held) return decision;
          s.pruneHolds.run(spend.keyId, nowMs - HOLD_HORIZON_MS);
          for (const usage of decision.usages) writeUsage(usage);
          for (const hold of decision.holds) s.insertHold.run(...holdValues(hold));
          return decision;
        });
      }),
    settleAllowanceHold: (holdId, outcome) =>
      settle(() =>
        sql.tx(() => {
          const holds = (s.holds.all(holdId) as HoldRow[]).map(holdFromRow);
          if (holds.length === 0) return false;
          if (outcome === 'release') for (const hold of holds) giveBack(hold);
          s.removeHolds.run(holdId);
          return true;
        }),
      ),
  };

  function giveBack(hold: AllowanceHold): void {
    const row = s.byId.get(hold.allowanceId) as AllowanceRow | undefined;
    if (row === undefined) return;
    const usage = releaseHold(usageFromRow(row), hold);
    if (usage) writeUsage(usage);
  }
}

/** A synchronous driver call behind a Promise: failures reject, never throw synchronously. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
