/**
 * Withdrawal limits with reservations: per-transaction and rolling 1 h / 24 h limits, per account
 * and per key, plus the key's withdrawal allowance and the address book.
 *
 * Atomicity (reference §2.5 #3, ASVS 4.0 11.1.6 TOCTOU): these functions are pure decisions over
 * a `LedgerState`. Two concurrent requests deciding on the same snapshot could each pass and
 * together exceed a limit, so a store must apply `reserve` to the LATEST state inside one
 * transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT … FOR UPDATE on the account row, or
 * an UPDATE … WHERE version = $old; Redis: one Lua script), using `state.version` as the
 * compare-and-set token: a write whose version moved is retried from the new state.
 *
 * A reservation counts from its creation until released; a reservation neither committed nor
 * released lapses at `expiresAt` (a crashed executor cannot hold a limit forever) and can then no
 * longer be committed, so a lapsed amount never comes back into a window it was not checked in.
 */
import { checkWithdrawalAddress, type AddressBookEntry } from './address-book.js';
import { formatDecimal, normalizeDecimal, parseDecimal } from './decimal.js';
import { allowancePeriod, checkAllowance, type SpendAllowance } from './spend-allowance.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** How long a reservation holds its amount before it lapses, unless the rules say otherwise. */
export const DEFAULT_RESERVATION_TTL_MS = 10 * 60_000;

/** Decimal-text limits; an omitted limit does not apply. */
export interface AmountLimits {
  readonly perTransaction?: string;
  readonly perHour?: string;
  readonly perDay?: string;
}

export interface WithdrawalRules {
  /** Limits for the account, in the request's asset. */
  readonly account?: AmountLimits;
  /** Limits for the calling key, in the request's asset. */
  readonly key?: AmountLimits;
  /** When present and `required`, the destination must be a usable address-book entry. */
  readonly addressBook?: {
    readonly required: boolean;
    readonly entries: readonly AddressBookEntry[];
  };
  /** The key's withdrawal allowance, when it has one. */
  readonly allowance?: SpendAllowance;
  readonly reservationTtlMs?: number;
}

export interface Reservation {
  readonly id: string;
  readonly accountId: string;
  readonly keyId: string;
  readonly asset: string;
  readonly network: string;
  readonly address: string;
  /** Canonical decimal text. */
  readonly amount: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly status: 'reserved' | 'committed';
}

/** What a store holds per account: the reservations, and a version for compare-and-set. */
export interface LedgerState {
  readonly version: number;
  readonly reservations: readonly Reservation[];
}

export interface WithdrawalRequest {
  readonly reservationId: string;
  readonly accountId: string;
  readonly keyId: string;
  readonly asset: string;
  readonly network: string;
  readonly address: string;
  readonly memo?: string;
  /** Plain decimal text, e.g. `"1500.25"`. */
  readonly amount: string;
}

export type LimitWindow = 'transaction' | '1h' | '24h';

export type ReserveRefusal =
  | { readonly ok: false; readonly reason: 'AMOUNT_INVALID' | 'RESERVATION_EXISTS' }
  | { readonly ok: false; readonly reason: 'ADDRESS_NOT_ALLOWED' | 'ADDRESS_COOLING_DOWN' }
  | {
      readonly ok: false;
      readonly reason: 'AMOUNT_LIMIT_EXCEEDED';
      readonly scope: 'account' | 'key';
      readonly window: LimitWindow;
      readonly limit: string;
      /** Already counted in the window, before this request. */
      readonly used: string;
    }
  | {
      readonly ok: false;
      readonly reason:
        | 'ALLOWANCE_NOT_STARTED'
        | 'ALLOWANCE_EXPIRED'
        | 'ALLOWANCE_ASSET_MISMATCH'
        | 'ALLOWANCE_EXCEEDED';
    };

export type ReserveResult =
  | { readonly ok: true; readonly reservation: Reservation; readonly newState: LedgerState }
  | ReserveRefusal;

export const EMPTY_LEDGER: LedgerState = Object.freeze({ version: 0, reservations: [] });

/** Decides a withdrawal and, if it passes, reserves its amount. Pure; see the module comment. */
export function reserve(
  state: LedgerState,
  request: WithdrawalRequest,
  rules: WithdrawalRules,
  nowMs: number,
): ReserveResult {
  const amount = parseDecimal(request.amount);
  if (amount === undefined || amount === 0n) return { ok: false, reason: 'AMOUNT_INVALID' };
  if (state.reservations.some((r) => r.id === request.reservationId)) {
    return { ok: false, reason: 'RESERVATION_EXISTS' };
  }
  if (rules.addressBook) {
    const check = checkWithdrawalAddress(
      rules.addressBook.entries.filter((e) => e.accountId === request.accountId),
      request,
      nowMs,
      rules.addressBook.required,
    );
    if (!check.ok) return check;
  }
  const counted = state.reservations.filter(
    (r) => r.accountId === request.accountId && r.asset === request.asset && isLive(r, nowMs),
  );
  const scopes = [
    { scope: 'account' as const, limits: rules.account, entries: counted },
    {
      scope: 'key' as const,
      limits: rules.key,
      entries: counted.filter((r) => r.keyId === request.keyId),
    },
  ];
  for (const { scope, limits, entries } of scopes) {
    if (!limits) continue;
    const refusal = checkLimits(scope, limits, entries, amount, nowMs);
    if (refusal) return refusal;
  }
  if (rules.allowance) {
    const refusal = checkKeyAllowance(rules.allowance, counted, request, amount, nowMs);
    if (refusal) return refusal;
  }
  const reservation: Reservation = {
    id: request.reservationId,
    accountId: request.accountId,
    keyId: request.keyId,
    asset: request.asset,
    network: request.network,
    address: request.address,
    amount: normalizeDecimal(request.amount) ?? request.amount,
    createdAt: nowMs,
    expiresAt: nowMs + Math.max(1, rules.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS),
    status: 'reserved',
  };
  return {
    ok: true,
    reservation,
    newState: { version: state.version + 1, reservations: [...state.reservations, reservation] },
  };
}

/** Marks a reservation as spent (the upstream accepted the withdrawal). */
export function commitReservation(
  state: LedgerState,
  id: string,
  nowMs: number,
):
  | { readonly ok: true; readonly newState: LedgerState }
  | {
      readonly ok: false;
      readonly reason: 'RESERVATION_UNKNOWN' | 'RESERVATION_LAPSED' | 'ALREADY_COMMITTED';
    } {
  const found = state.reservations.find((r) => r.id === id);
  if (!found) return { ok: false, reason: 'RESERVATION_UNKNOWN' };
  if (found.status === 'committed') return { ok: false, reason: 'ALREADY_COMMITTED' };
  if (!isLive(found, nowMs)) return { ok: false, reason: 'RESERVATION_LAPSED' };
  return {
    ok: true,
    newState: replace(state, (r) => (r.id === id ? { ...r, status: 'committed' } : r)),
  };
}

/** Gives a reserved amount back (the upstream refused, or the request was abandoned). */
export function releaseReservation(
  state: LedgerState,
  id: string,
):
  | { readonly ok: true; readonly newState: LedgerState }
  | { readonly ok: false; readonly reason: 'RESERVATION_UNKNOWN' | 'ALREADY_COMMITTED' } {
  const found = state.reservations.find((r) => r.id === id);
  if (!found) return { ok: false, reason: 'RESERVATION_UNKNOWN' };
  if (found.status === 'committed') return { ok: false, reason: 'ALREADY_COMMITTED' };
  return {
    ok: true,
    newState: {
      version: state.version + 1,
      reservations: state.reservations.filter((r) => r.id !== id),
    },
  };
}

/**
 * Drops what can no longer count: lapsed reservations, and entries older than `horizonMs`
 * (at least the longest window; longer when an allowance period is longer than a day).
 */
export function pruneLedger(state: LedgerState, nowMs: number, horizonMs = DAY_MS): LedgerState {
  const kept = state.reservations.filter(
    (r) => isLive(r, nowMs) && r.createdAt > nowMs - Math.max(horizonMs, DAY_MS),
  );
  return kept.length === state.reservations.length
    ? state
    : { version: state.version + 1, reservations: kept };
}

/** Sum of live amounts of an account (and key, if given) and asset in a trailing window. */
export function usedInWindow(
  state: LedgerState,
  filter: { readonly accountId: string; readonly asset: string; readonly keyId?: string },
  windowMs: number,
  nowMs: number,
): string {
  const entries = state.reservations.filter(
    (r) =>
      r.accountId === filter.accountId &&
      r.asset === filter.asset &&
      (filter.keyId === undefined || r.keyId === filter.keyId) &&
      isLive(r, nowMs),
  );
  return formatDecimal(sumSince(entries, nowMs - windowMs));
}

function isLive(reservation: Reservation, nowMs: number): boolean {
  return reservation.status === 'committed' || nowMs < reservation.expiresAt;
}

/** Sum of amounts created strictly after `afterMs` (a window is (now − W, now]). */
function sumSince(entries: readonly Reservation[], afterMs: number): bigint {
  let total = 0n;
  for (const r of entries) if (r.createdAt > afterMs) total += parseDecimal(r.amount) ?? 0n;
  return total;
}

function checkLimits(
  scope: 'account' | 'key',
  limits: AmountLimits,
  entries: readonly Reservation[],
  amount: bigint,
  nowMs: number,
): ReserveRefusal | undefined {
  const windows: { window: LimitWindow; limit: string | undefined; used: () => bigint }[] = [
    { window: 'transaction', limit: limits.perTransaction, used: () => 0n },
    { window: '1h', limit: limits.perHour, used: () => sumSince(entries, nowMs - HOUR_MS) },
    { window: '24h', limit: limits.perDay, used: () => sumSince(entries, nowMs - DAY_MS) },
  ];
  for (const { window, limit, used } of windows) {
    if (limit === undefined) continue;
    // A limit that does not parse allows nothing (fail closed).
    const cap = parseDecimal(limit) ?? -1n;
    const already = used();
    if (already + amount > cap) {
      return {
        ok: false,
        reason: 'AMOUNT_LIMIT_EXCEEDED',
        scope,
        window,
        limit,
        used: formatDecimal(already),
      };
    }
  }
  return undefined;
}

function checkKeyAllowance(
  allowance: SpendAllowance,
  counted: readonly Reservation[],
  request: WithdrawalRequest,
  amount: bigint,
  nowMs: number,
): ReserveRefusal | undefined {
  const period = allowancePeriod(allowance, nowMs);
  if (!period.ok) return period;
  const spent = sumSince(
    counted.filter((r) => r.keyId === allowance.keyId && r.createdAt >= period.startMs),
    period.startMs - 1,
  );
  const checked = checkAllowance(allowance, request.asset, spent, amount, nowMs);
  if (checked.ok) return undefined;
  return checked.reason === 'AMOUNT_INVALID' ? { ok: false, reason: 'AMOUNT_INVALID' } : checked;
}

function replace(state: LedgerState, map: (r: Reservation) => Reservation): LedgerState {
  return { version: state.version + 1, reservations: state.reservations.map(map) };
}
