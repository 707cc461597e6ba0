/**
 * Spend-allowance row shapes and their mapping to the domain, shared by the SQLite and
 * PostgreSQL adapters: the same columns, amounts as decimal text, times as epoch milliseconds
 * (PostgreSQL bigint arrives as text, hence the Number()).
 */
import type { AllowanceHold } from '../../core/transactions/allowance-ledger.js';
import type {
  AllowanceKind,
  AllowanceUsage,
  SpendAllowance,
} from '../../core/transactions/spend-allowance.js';
import type { StoredAllowance } from '../../ports.js';

export interface AllowanceRow {
  id: string;
  key_id: string;
  kind: AllowanceKind;
  asset: string;
  amount_per_period: string;
  period_ms: number | string;
  starts_at: number | string;
  expires_at: number | string;
  created_at: number | string;
  usage_period_start: number | string | null;
  usage_spent: string | null;
}

export interface HoldRow {
  id: string;
  allowance_id: string;
  key_id: string;
  period_start: number | string;
  amount: string;
  created_at: number | string;
}

export const ALLOWANCE_COLUMNS = `id, key_id, kind, asset, amount_per_period, period_ms, starts_at,
  expires_at, created_at, usage_period_start, usage_spent`;
export const HOLD_COLUMNS = 'id, allowance_id, key_id, period_start, amount, created_at';

export function allowanceFromRow(row: AllowanceRow): SpendAllowance {
  return {
    id: row.id,
    keyId: row.key_id,
    kind: row.kind,
    asset: row.asset,
    amountPerPeriod: row.amount_per_period,
    periodMs: Number(row.period_ms),
    startsAt: Number(row.starts_at),
    expiresAt: Number(row.expires_at),
  };
}

export function usageFromRow(row: AllowanceRow): AllowanceUsage | undefined {
  if (row.usage_period_start === null || row.usage_spent === null) return undefined;
  return {
    allowanceId: row.id,
    periodStart: Number(row.usage_period_start),
    spent: row.usage_spent,
  };
}

export function storedAllowanceFromRow(row: AllowanceRow): StoredAllowance {
  return {
    allowance: allowanceFromRow(row),
    usage: usageFromRow(row),
    createdAt: Number(row.created_at),
  };
}

export function holdFromRow(row: HoldRow): AllowanceHold {
  return {
    id: row.id,
    allowanceId: row.allowance_id,
    keyId: row.key_id,
    periodStart: Number(row.period_start),
    amount: row.amount,
    createdAt: Number(row.created_at),
  };
}

/** The allowance as positional values in ALLOWANCE_COLUMNS order, with no usage yet. */
export function allowanceValues(allowance: SpendAllowance, createdAt: number): unknown[] {
  return [
    allowance.id,
    allowance.keyId,
    allowance.kind,
    allowance.asset,
    allowance.amountPerPeriod,
    allowance.periodMs,
    allowance.startsAt,
    allowance.expiresAt,
    createdAt,
    null,
    null,
  ];
}

/** The hold as positional values in HOLD_COLUMNS order. */
export function holdValues(hold: AllowanceHold): unknown[] {
  return [hold.id, hold.allowanceId, hold.keyId, hold.periodStart, hold.amount, hold.createdAt];
}

/** Holds older than this are dropped: no request waits that long on its upstream. */
export const HOLD_HORIZON_MS = 24 * 3_600_000;
