/**
 * Spending from a key's allowances with holds (reservations): the decision a store applies
 * atomically. A request of a kind the key has allowances of must fit every allowance of that
 * kind in its asset; an asset no allowance covers gets nothing (an allowance bounds the key, it
 * never widens it), and an expired allowance refuses rather than falling back to open rights.
 *
 * Each allowance keeps one usage counter for its current period (`spent` includes held amounts).
 * A hold is made before forwarding and either committed (the amount stays spent) or released
 * (the amount goes back, if its period is still the current one). A hold never settled (the
 * upstream timed out) stays counted until its period ends: the safe side.
 */
import { formatDecimal, parseDecimal } from './decimal.js';
import {
  allowancePeriod,
  consumeAllowance,
  type AllowanceKind,
  type AllowanceUsage,
  type SpendAllowance,
} from './spend-allowance.js';

/** Stable reason codes of a refused spend (src/core/reasons.ts). */
export type AllowanceDenial = 'ALLOWANCE_EXCEEDED' | 'ALLOWANCE_EXPIRED';

export interface AllowanceSpend {
  readonly holdId: string;
  readonly keyId: string;
  readonly kind: AllowanceKind;
  /** The withdrawn asset, or the quote asset of an order's notional. */
  readonly asset: string;
  /**
   * An order's symbol, when its quote asset is not known: the asset is then the longest of the
   * key's notional allowance assets the symbol ends with (`quoteAssetOf`), and `asset` is ignored.
   */
  readonly symbol?: string;
  /** Plain decimal text. */
  readonly amount: string;
}

/** An amount held on one allowance by one request (one request holds on each matching one). */
export interface AllowanceHold {
  readonly id: string;
  readonly allowanceId: string;
  readonly keyId: string;
  readonly periodStart: number;
  /** Canonical decimal text. */
  readonly amount: string;
  readonly createdAt: number;
}

export type AllowanceDecision =
  /** The key has no allowance of this kind: scopes and policies alone decide. */
  | { readonly ok: true; readonly held: false }
  | {
      readonly ok: true;
      readonly held: true;
      readonly holds: readonly AllowanceHold[];
      /** The new usage of every allowance held on. */
      readonly usages: readonly AllowanceUsage[];
    }
  | {
      readonly ok: false;
      readonly reason: AllowanceDenial | 'AMOUNT_INVALID';
      /** The allowance that refused, when one did (none when no allowance covers the asset). */
      readonly allowanceId?: string;
    };

/** Decides a spend against the key's allowances and their current usage. Pure. */
export function holdAllowances(
  allowances: readonly SpendAllowance[],
  usages: ReadonlyMap<string, AllowanceUsage>,
  spend: AllowanceSpend,
  nowMs: number,
): AllowanceDecision {
  const ofKind = allowances.filter((a) => a.keyId === spend.keyId && a.kind === spend.kind);
  if (ofKind.length === 0) return { ok: true, held: false };
  const amount = parseDecimal(spend.amount);
  if (amount === undefined || amount === 0n) return { ok: false, reason: 'AMOUNT_INVALID' };
  const asset =
    spend.symbol === undefined
      ? spend.asset
      : quoteAssetOf(
          spend.symbol,
          ofKind.map((a) => a.asset),
        );
  const matching = ofKind.filter((a) => a.asset === asset);
  if (matching.length === 0) {
    const allExpired = ofKind.every((a) => nowMs >= a.expiresAt);
    return { ok: false, reason: allExpired ? 'ALLOWANCE_EXPIRED' : 'ALLOWANCE_EXCEEDED' };
  }
  const holds: AllowanceHold[] = [];
  const next: AllowanceUsage[] = [];
  // Expiry is reported before an exceeded amount: the key's right itself has lapsed.
  const expired = matching.find((a) => nowMs >= a.expiresAt);
  if (expired) return { ok: false, reason: 'ALLOWANCE_EXPIRED', allowanceId: expired.id };
  for (const allowance of matching) {
    const consumed = consumeAllowance(
      allowance,
      usages.get(allowance.id),
      { asset: allowance.asset, amount: spend.amount },
      nowMs,
    );
    if (!consumed.ok) {
      // Not started yet (another node's clock is behind) counts as nothing left.
      const reason =
        consumed.reason === 'ALLOWANCE_EXPIRED' ? consumed.reason : 'ALLOWANCE_EXCEEDED';
      return { ok: false, reason, allowanceId: allowance.id };
    }
    next.push(consumed.usage);
    holds.push({
      id: spend.holdId,
      allowanceId: allowance.id,
      keyId: spend.keyId,
      periodStart: consumed.usage.periodStart,
      amount: formatDecimal(amount),
      createdAt: nowMs,
    });
  }
  return { ok: true, held: true, holds, usages: next };
}

/**
 * The usage after a hold is released: its amount leaves the counter when the counter is still
 * at the hold's period; a later period started from zero and owes it nothing.
 */
export function releaseHold(
  usage: AllowanceUsage | undefined,
  hold: AllowanceHold,
): AllowanceUsage | undefined {
  if (usage === undefined || usage.allowanceId !== hold.allowanceId) return usage;
  if (usage.periodStart !== hold.periodStart) return usage;
  const left = (parseDecimal(usage.spent) ?? 0n) - (parseDecimal(hold.amount) ?? 0n);
  return { ...usage, spent: formatDecimal(left > 0n ? left : 0n) };
}

/** What an allowance has spent and has left in the period containing `nowMs`. */
export function allowanceStatus(
  allowance: SpendAllowance,
  usage: AllowanceUsage | undefined,
  nowMs: number,
):
  | {
      readonly state: 'active';
      readonly periodStart: number;
      readonly periodEnd: number;
      readonly spent: string;
      readonly remaining: string;
    }
  | { readonly state: 'expired' | 'not-started' } {
  const period = allowancePeriod(allowance, nowMs);
  if (!period.ok) {
    return { state: period.reason === 'ALLOWANCE_EXPIRED' ? 'expired' : 'not-started' };
  }
  const spent =
    usage !== undefined && usage.periodStart === period.startMs
      ? (parseDecimal(usage.spent) ?? 0n)
      : 0n;
  const cap = parseDecimal(allowance.amountPerPeriod) ?? 0n;
  return {
    state: 'active',
    periodStart: period.startMs,
    periodEnd: period.endMs,
    spent: formatDecimal(spent),
    remaining: formatDecimal(cap > spent ? cap - spent : 0n),
  };
}

const SYMBOL_SEPARATORS = /[-_/:]/g;

/**
 * The quote asset of a symbol among the assets the key's notional allowances are in: the longest
 * asset the symbol ends with (`BTCUSDT`, `BTC-USDT`, `btc/usdt` → `USDT`); undefined if none.
 */
export function quoteAssetOf(symbol: string, assets: readonly string[]): string | undefined {
  const normalized = symbol.replace(SYMBOL_SEPARATORS, '').toUpperCase();
  let best: string | undefined;
  for (const asset of assets) {
    if (normalized.length > asset.length && normalized.endsWith(asset)) {
      if (best === undefined || asset.length > best.length) best = asset;
    }
  }
  return best;
}

/**
 * The exact notional of an order, as decimal text: the route's own `notional` when it was
 * extracted exactly, else quantity × price (rounded up to 10^-18, so it is never under-counted);
 * undefined when neither can be computed (a market order by base quantity).
 */
export function orderNotional(decimals: {
  readonly notional?: string | undefined;
  readonly quantity?: string | undefined;
  readonly price?: string | undefined;
}): string | undefined {
  if (decimals.notional !== undefined && parseDecimal(decimals.notional) !== undefined) {
    return formatDecimal(parseDecimal(decimals.notional) ?? 0n);
  }
  if (decimals.quantity === undefined || decimals.price === undefined) return undefined;
  const quantity = parseDecimal(decimals.quantity);
  const price = parseDecimal(decimals.price);
  if (quantity === undefined || price === undefined) return undefined;
  const scale = 10n ** 18n;
  const product = quantity * price;
  return formatDecimal(product / scale + (product % scale === 0n ? 0n : 1n));
}
