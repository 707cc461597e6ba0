/**
 * Spend allowances: a key can hold a bounded, expiring allowance (at most X of an asset traded
 * as notional, or withdrawn, per period) instead of open-ended rights — the safe version of the
 * unlimited token approvals drained in DeFi exploits. Periods are fixed, aligned on `startsAt`
 * (period n is [startsAt + n·periodMs, startsAt + (n+1)·periodMs)), so "what is left" has one
 * answer that every node computes alike.
 */
import { formatDecimal, parseDecimal } from './decimal.js';

export type AllowanceKind = 'notional' | 'withdrawal';

export interface SpendAllowance {
  readonly id: string;
  readonly keyId: string;
  readonly kind: AllowanceKind;
  /** The asset amounts are counted in (the quote asset for notional, e.g. USDT). */
  readonly asset: string;
  /** Decimal text: the most that may be spent in one period. */
  readonly amountPerPeriod: string;
  readonly periodMs: number;
  readonly startsAt: number;
  /** The allowance is void from this instant on. */
  readonly expiresAt: number;
}

/** What has been spent in the current period (a store keeps one per allowance). */
export interface AllowanceUsage {
  readonly allowanceId: string;
  readonly periodStart: number;
  /** Decimal text. */
  readonly spent: string;
}

export type AllowanceRefusal =
  | 'ALLOWANCE_NOT_STARTED'
  | 'ALLOWANCE_EXPIRED'
  | 'ALLOWANCE_ASSET_MISMATCH'
  | 'ALLOWANCE_EXCEEDED'
  | 'AMOUNT_INVALID';

export type AllowancePeriod =
  | { readonly ok: true; readonly startMs: number; readonly endMs: number }
  | { readonly ok: false; readonly reason: 'ALLOWANCE_NOT_STARTED' | 'ALLOWANCE_EXPIRED' };

/** The period containing `nowMs`, or why the allowance is not in force. */
export function allowancePeriod(allowance: SpendAllowance, nowMs: number): AllowancePeriod {
  if (nowMs < allowance.startsAt) return { ok: false, reason: 'ALLOWANCE_NOT_STARTED' };
  if (nowMs >= allowance.expiresAt) return { ok: false, reason: 'ALLOWANCE_EXPIRED' };
  const index = Math.floor((nowMs - allowance.startsAt) / allowance.periodMs);
  const startMs = allowance.startsAt + index * allowance.periodMs;
  return { ok: true, startMs, endMs: Math.min(startMs + allowance.periodMs, allowance.expiresAt) };
}

/** Checks `amountUnits` (10^-18 units) against what is left, given what the period has spent. */
export function checkAllowance(
  allowance: SpendAllowance,
  asset: string,
  spentUnits: bigint,
  amountUnits: bigint,
  nowMs: number,
): { readonly ok: true } | { readonly ok: false; readonly reason: AllowanceRefusal } {
  const period = allowancePeriod(allowance, nowMs);
  if (!period.ok) return period;
  if (asset !== allowance.asset) return { ok: false, reason: 'ALLOWANCE_ASSET_MISMATCH' };
  const cap = parseDecimal(allowance.amountPerPeriod);
  // An allowance whose cap does not parse allows nothing (fail closed).
  if (cap === undefined || spentUnits + amountUnits > cap) {
    return { ok: false, reason: 'ALLOWANCE_EXCEEDED' };
  }
  return { ok: true };
}

/**
 * Spends from an allowance with a usage counter (notional traded). Pure: the store applies the
 * returned usage with a compare-and-set on the previous one, in one transaction.
 */
export function consumeAllowance(
  allowance: SpendAllowance,
  usage: AllowanceUsage | undefined,
  spend: { readonly asset: string; readonly amount: string },
  nowMs: number,
):
  | { readonly ok: true; readonly usage: AllowanceUsage; readonly remaining: string }
  | { readonly ok: false; readonly reason: AllowanceRefusal } {
  const amount = parseDecimal(spend.amount);
  if (amount === undefined || amount === 0n) return { ok: false, reason: 'AMOUNT_INVALID' };
  const period = allowancePeriod(allowance, nowMs);
  if (!period.ok) return period;
  const current =
    usage !== undefined &&
    usage.allowanceId === allowance.id &&
    usage.periodStart === period.startMs
      ? (parseDecimal(usage.spent) ?? 0n)
      : 0n;
  const checked = checkAllowance(allowance, spend.asset, current, amount, nowMs);
  if (!checked.ok) return checked;
  const spent = current + amount;
  const cap = parseDecimal(allowance.amountPerPeriod) ?? 0n;
  return {
    ok: true,
    usage: { allowanceId: allowance.id, periodStart: period.startMs, spent: formatDecimal(spent) },
    remaining: formatDecimal(cap - spent),
  };
}
