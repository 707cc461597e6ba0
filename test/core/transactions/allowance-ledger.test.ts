import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HOUR_MS,
  allowanceStatus,
  holdAllowances,
  orderNotional,
  parseDecimal,
  quoteAssetOf,
  releaseHold,
  type AllowanceDecision,
  type AllowanceSpend,
  type AllowanceUsage,
  type SpendAllowance,
} from '../../../src/core/transactions/index.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY_MS = 24 * HOUR_MS;

const hourly: SpendAllowance = {
  id: 'alw_h',
  keyId: 'pk_1',
  kind: 'notional',
  asset: 'USDT',
  amountPerPeriod: '1000',
  periodMs: HOUR_MS,
  startsAt: T0,
  expiresAt: T0 + 3 * HOUR_MS,
};

const spend = (amount: string, overrides: Partial<AllowanceSpend> = {}): AllowanceSpend => ({
  holdId: 'hold_1',
  keyId: 'pk_1',
  kind: 'notional',
  asset: 'USDT',
  amount,
  ...overrides,
});

const NONE = new Map<string, AllowanceUsage>();
const reasonOf = (d: AllowanceDecision): string => (d.ok ? (d.held ? 'held' : 'none') : d.reason);
const usageAfter = (d: AllowanceDecision): Map<string, AllowanceUsage> =>
  new Map(d.ok && d.held ? d.usages.map((u) => [u.allowanceId, u]) : []);

describe('holdAllowances', () => {
  it('leaves a key without an allowance of the kind to scopes and policies', () => {
    expect(reasonOf(holdAllowances([hourly], NONE, spend('5', { kind: 'withdrawal' }), T0))).toBe(
      'none',
    );
    expect(reasonOf(holdAllowances([hourly], NONE, spend('5', { keyId: 'pk_2' }), T0))).toBe(
      'none',
    );
  });

  it.each([
    ['exactly the allowance', '1000', 'held'],
    ['one unit over it', '1000.000000000000000001', 'ALLOWANCE_EXCEEDED'],
    ['zero', '0', 'AMOUNT_INVALID'],
    ['not a plain decimal', '1e3', 'AMOUNT_INVALID'],
  ])('%s → %s', (_name, amount, expected) => {
    expect(reasonOf(holdAllowances([hourly], NONE, spend(amount), T0))).toBe(expected);
  });

  it('holds with the period start and the new usage', () => {
    const decision = holdAllowances([hourly], NONE, spend('250.50'), T0 + 10);
    expect(decision).toEqual({
      ok: true,
      held: true,
      holds: [
        {
          id: 'hold_1',
          allowanceId: 'alw_h',
          keyId: 'pk_1',
          periodStart: T0,
          amount: '250.5',
          createdAt: T0 + 10,
        },
      ],
      usages: [{ allowanceId: 'alw_h', periodStart: T0, spent: '250.5' }],
    });
  });

  it('counts what the period has spent, and rolls over at the period boundary', () => {
    const first = holdAllowances([hourly], NONE, spend('900'), T0);
    const usages = usageAfter(first);
    expect(reasonOf(holdAllowances([hourly], usages, spend('101'), T0 + HOUR_MS - 1))).toBe(
      'ALLOWANCE_EXCEEDED',
    );
    expect(reasonOf(holdAllowances([hourly], usages, spend('100'), T0 + HOUR_MS - 1))).toBe('held');
    const next = holdAllowances([hourly], usages, spend('1000'), T0 + HOUR_MS);
    expect(next).toMatchObject({
      ok: true,
      usages: [{ periodStart: T0 + HOUR_MS, spent: '1000' }],
    });
  });

  it('refuses from the expiry instant on, and never falls back to open rights', () => {
    const at = hourly.expiresAt;
    expect(reasonOf(holdAllowances([hourly], NONE, spend('1'), at - 1))).toBe('held');
    expect(holdAllowances([hourly], NONE, spend('1'), at)).toEqual({
      ok: false,
      reason: 'ALLOWANCE_EXPIRED',
      allowanceId: 'alw_h',
    });
    expect(reasonOf(holdAllowances([hourly], NONE, spend('1', { asset: 'BTC' }), at))).toBe(
      'ALLOWANCE_EXPIRED',
    );
  });

  it('finds the quote asset of an order by its symbol among the allowances', () => {
    const usdc: SpendAllowance = { ...hourly, id: 'alw_c', asset: 'USDC', amountPerPeriod: '10' };
    const bySymbol = (symbol: string, amount: string) =>
      holdAllowances([hourly, usdc], NONE, spend(amount, { asset: '', symbol }), T0);
    expect(bySymbol('BTC-USDT', '1000')).toMatchObject({ holds: [{ allowanceId: 'alw_h' }] });
    expect(reasonOf(bySymbol('ETHUSDC', '11'))).toBe('ALLOWANCE_EXCEEDED');
    expect(reasonOf(bySymbol('ETHBTC', '1'))).toBe('ALLOWANCE_EXCEEDED');
  });

  it('refuses an asset no allowance of the kind covers', () => {
    expect(holdAllowances([hourly], NONE, spend('1', { asset: 'BTC' }), T0)).toEqual({
      ok: false,
      reason: 'ALLOWANCE_EXCEEDED',
    });
  });

  it('refuses before the start (a clock behind the one that set it) as nothing left', () => {
    expect(reasonOf(holdAllowances([hourly], NONE, spend('1'), T0 - 1))).toBe('ALLOWANCE_EXCEEDED');
  });

  it('must fit every allowance of the asset (hourly and daily together)', () => {
    const daily: SpendAllowance = {
      ...hourly,
      id: 'alw_d',
      amountPerPeriod: '1500',
      periodMs: DAY_MS,
      expiresAt: T0 + 7 * DAY_MS,
    };
    const both = [hourly, daily];
    const first = holdAllowances(both, NONE, spend('1000'), T0);
    expect(first).toMatchObject({ ok: true, held: true });
    const usages = usageAfter(first);
    expect(holdAllowances(both, usages, spend('600'), T0 + HOUR_MS)).toEqual({
      ok: false,
      reason: 'ALLOWANCE_EXCEEDED',
      allowanceId: 'alw_d',
    });
    const second = holdAllowances(both, usages, spend('500'), T0 + HOUR_MS);
    expect(second.ok && second.held ? second.holds.map((h) => h.allowanceId) : []).toEqual([
      'alw_h',
      'alw_d',
    ]);
  });

  it('a lifetime allowance (one period up to its expiry) never refills', () => {
    const lifetime = { ...hourly, periodMs: 3 * HOUR_MS };
    const usages = usageAfter(holdAllowances([lifetime], NONE, spend('1000'), T0));
    expect(reasonOf(holdAllowances([lifetime], usages, spend('1'), T0 + 3 * HOUR_MS - 1))).toBe(
      'ALLOWANCE_EXCEEDED',
    );
  });

  it('property: whatever the holds and releases, a period never counts more than allowed', () => {
    const ops = fc.array(
      fc.record({
        release: fc.boolean(),
        amount: fc.integer({ min: 1, max: 600 }),
        advanceMs: fc.integer({ min: 0, max: HOUR_MS / 2 }),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(ops, (steps) => {
        let usages = new Map<string, AllowanceUsage>();
        const holds = [];
        let now = T0;
        for (const [i, step] of steps.entries()) {
          now += step.advanceMs;
          const last = holds.at(-1);
          if (step.release && last !== undefined) {
            holds.pop();
            const released = releaseHold(usages.get(last.allowanceId), last);
            if (released) usages = new Map([[released.allowanceId, released]]);
            continue;
          }
          const decision = holdAllowances(
            [hourly],
            usages,
            spend(String(step.amount), { holdId: `h${i}` }),
            now,
          );
          if (decision.ok && decision.held) {
            usages = usageAfter(decision);
            holds.push(...decision.holds);
          }
          const spent = parseDecimal(usages.get('alw_h')?.spent ?? '0') ?? 0n;
          if (spent > (parseDecimal('1000') ?? 0n)) return false;
        }
        return true;
      }),
    );
  });
});

describe('releaseHold', () => {
  const usage: AllowanceUsage = { allowanceId: 'alw_h', periodStart: T0, spent: '700' };
  const hold = {
    id: 'hold_1',
    allowanceId: 'alw_h',
    keyId: 'pk_1',
    periodStart: T0,
    amount: '200',
    createdAt: T0,
  };

  it('gives the amount back within the same period', () => {
    expect(releaseHold(usage, hold)).toEqual({ ...usage, spent: '500' });
  });

  it('owes a later period nothing', () => {
    const later = { ...usage, periodStart: T0 + HOUR_MS };
    expect(releaseHold(later, hold)).toBe(later);
  });

  it('never goes below zero', () => {
    expect(releaseHold({ ...usage, spent: '100' }, hold)?.spent).toBe('0');
  });
});

describe('allowanceStatus', () => {
  it('reports spent and remaining of the current period', () => {
    const usage = { allowanceId: 'alw_h', periodStart: T0 + HOUR_MS, spent: '400' };
    expect(allowanceStatus(hourly, usage, T0 + HOUR_MS + 5)).toEqual({
      state: 'active',
      periodStart: T0 + HOUR_MS,
      periodEnd: T0 + 2 * HOUR_MS,
      spent: '400',
      remaining: '600',
    });
    expect(allowanceStatus(hourly, usage, T0 + 2 * HOUR_MS)).toMatchObject({
      spent: '0',
      remaining: '1000',
    });
  });

  it('ends the last period at the expiry, then reports expired', () => {
    const short = { ...hourly, expiresAt: T0 + 90 * 60_000 };
    expect(allowanceStatus(short, undefined, T0 + HOUR_MS)).toMatchObject({
      periodEnd: T0 + 90 * 60_000,
    });
    expect(allowanceStatus(short, undefined, short.expiresAt)).toEqual({ state: 'expired' });
  });
});

describe('quoteAssetOf', () => {
  it.each([
    ['BTCUSDT', ['USDT', 'BTC'], 'USDT'],
    ['BTC-USDT', ['USDT'], 'USDT'],
    ['eth/usdc', ['USDT', 'USDC'], 'USDC'],
    ['ETHBTC', ['USDT'], undefined],
    ['USDT', ['USDT'], undefined],
    ['BTCFDUSD', ['USD', 'FDUSD'], 'FDUSD'],
  ])('%s among %j → %s', (symbol, assets, expected) => {
    expect(quoteAssetOf(symbol, assets)).toBe(expected);
  });
});

describe('orderNotional', () => {
  it.each([
    [{ quantity: '0.5', price: '50000' }, '25000'],
    [{ quantity: '0.1', price: '0.3' }, '0.03'],
    [{ quantity: '0.000000001', price: '0.000000001' }, '0.000000000000000001'],
    [{ notional: '1200.50', quantity: '1', price: '2' }, '1200.5'],
    [{ quantity: '1' }, undefined],
    [{}, undefined],
  ])('%j → %s', (decimals, expected) => {
    expect(orderNotional(decimals)).toBe(expected);
  });
});
