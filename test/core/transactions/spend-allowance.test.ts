import { describe, expect, it } from 'vitest';
import {
  EMPTY_LEDGER,
  HOUR_MS,
  consumeAllowance,
  formatDecimal,
  normalizeDecimal,
  parseDecimal,
  reserve,
  type SpendAllowance,
} from '../../../src/core/transactions/index.js';

const T0 = Date.UTC(2024, 0, 15, 0, 0, 0);
const DAY_MS = 24 * HOUR_MS;

const notional: SpendAllowance = {
  id: 'alw_1',
  keyId: 'pk_live_1',
  kind: 'notional',
  asset: 'USDT',
  amountPerPeriod: '10000',
  periodMs: DAY_MS,
  startsAt: T0,
  expiresAt: T0 + 7 * DAY_MS,
};

describe('consumeAllowance', () => {
  it('spends and reports what is left', () => {
    const result = consumeAllowance(notional, undefined, { asset: 'USDT', amount: '2500.5' }, T0);
    expect(result).toMatchObject({ ok: true, remaining: '7499.5' });
  });

  it('refuses past the cap within a period', () => {
    const first = consumeAllowance(notional, undefined, { asset: 'USDT', amount: '9000' }, T0);
    const usage = first.ok ? first.usage : undefined;
    expect(consumeAllowance(notional, usage, { asset: 'USDT', amount: '1000.01' }, T0 + 1)).toEqual(
      {
        ok: false,
        reason: 'ALLOWANCE_EXCEEDED',
      },
    );
  });

  it('starts afresh in the next period', () => {
    const first = consumeAllowance(notional, undefined, { asset: 'USDT', amount: '10000' }, T0);
    const usage = first.ok ? first.usage : undefined;
    const next = consumeAllowance(notional, usage, { asset: 'USDT', amount: '10000' }, T0 + DAY_MS);
    expect(next.ok).toBe(true);
  });

  it('refuses before the allowance starts', () => {
    expect(consumeAllowance(notional, undefined, { asset: 'USDT', amount: '1' }, T0 - 1)).toEqual({
      ok: false,
      reason: 'ALLOWANCE_NOT_STARTED',
    });
  });

  it('refuses from the expiry instant on', () => {
    const at = notional.expiresAt;
    expect(consumeAllowance(notional, undefined, { asset: 'USDT', amount: '1' }, at)).toEqual({
      ok: false,
      reason: 'ALLOWANCE_EXPIRED',
    });
  });

  it('refuses another asset', () => {
    expect(consumeAllowance(notional, undefined, { asset: 'BTC', amount: '1' }, T0)).toEqual({
      ok: false,
      reason: 'ALLOWANCE_ASSET_MISMATCH',
    });
  });
});

describe('withdrawal allowance inside reserve', () => {
  const withdrawal: SpendAllowance = {
    ...notional,
    id: 'alw_2',
    kind: 'withdrawal',
    amountPerPeriod: '500',
  };
  const base = {
    accountId: 'acc_1',
    keyId: 'pk_live_1',
    asset: 'USDT',
    network: 'TRX',
    address: 'TXYZ',
  };

  it('refuses a withdrawal beyond what the period has left', () => {
    const first = reserve(
      EMPTY_LEDGER,
      { ...base, reservationId: 'r1', amount: '400' },
      { allowance: withdrawal },
      T0,
    );
    const state = first.ok ? first.newState : EMPTY_LEDGER;
    expect(
      reserve(
        state,
        { ...base, reservationId: 'r2', amount: '101' },
        { allowance: withdrawal },
        T0 + 1,
      ),
    ).toMatchObject({ reason: 'ALLOWANCE_EXCEEDED' });
  });

  it('refuses once the allowance has expired', () => {
    expect(
      reserve(
        EMPTY_LEDGER,
        { ...base, reservationId: 'r3', amount: '1' },
        { allowance: withdrawal },
        withdrawal.expiresAt,
      ),
    ).toMatchObject({ reason: 'ALLOWANCE_EXPIRED' });
  });
});

describe('decimal', () => {
  it('round-trips 18 fractional digits exactly', () => {
    expect(formatDecimal(parseDecimal('0.000000000000000001') ?? 0n)).toBe('0.000000000000000001');
  });

  it('normalises trailing zeros', () => {
    expect(normalizeDecimal('1500.2500')).toBe('1500.25');
    expect(normalizeDecimal('2.0')).toBe('2');
  });

  it('refuses exponents, signs and leading zeros', () => {
    expect(['1e3', '-1', '+1', '007', ' 1'].map(parseDecimal)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
