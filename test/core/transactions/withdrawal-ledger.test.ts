import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DAY_MS,
  EMPTY_LEDGER,
  HOUR_MS,
  commitReservation,
  newAddressBookEntry,
  parseDecimal,
  pruneLedger,
  releaseReservation,
  reserve,
  usedInWindow,
  type LedgerState,
  type WithdrawalRequest,
  type WithdrawalRules,
} from '../../../src/core/transactions/index.js';

const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
let counter = 0;

function request(overrides: Partial<WithdrawalRequest> = {}): WithdrawalRequest {
  counter++;
  return {
    reservationId: `res_${counter}`,
    accountId: 'acc_1',
    keyId: 'pk_live_1',
    asset: 'USDT',
    network: 'TRX',
    address: 'TXYZ',
    amount: '100',
    ...overrides,
  };
}

function reserved(state: LedgerState, req: WithdrawalRequest, rules: WithdrawalRules, now: number) {
  const result = reserve(state, req, rules, now);
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result.newState;
}

describe('reserve: amounts', () => {
  const cases = ['0', '-1', '1e3', '01', '.5', '1.', 'abc', '1.0000000000000000001'];
  for (const amount of cases) {
    it(`refuses the amount ${JSON.stringify(amount)}`, () => {
      expect(reserve(EMPTY_LEDGER, request({ amount }), {}, T0)).toMatchObject({
        reason: 'AMOUNT_INVALID',
      });
    });
  }

  it('sums decimals exactly (0.1 + 0.2 fits a limit of 0.3)', () => {
    const rules: WithdrawalRules = { account: { perHour: '0.3' } };
    const state = reserved(EMPTY_LEDGER, request({ amount: '0.1' }), rules, T0);
    expect(reserve(state, request({ amount: '0.2' }), rules, T0).ok).toBe(true);
  });

  it('refuses a reused reservation id', () => {
    const req = request();
    const state = reserved(EMPTY_LEDGER, req, {}, T0);
    expect(reserve(state, req, {}, T0)).toMatchObject({ reason: 'RESERVATION_EXISTS' });
  });
});

describe('reserve: limits', () => {
  it('refuses above the per-transaction limit', () => {
    const result = reserve(
      EMPTY_LEDGER,
      request({ amount: '1000.01' }),
      { account: { perTransaction: '1000' } },
      T0,
    );
    expect(result).toMatchObject({
      reason: 'AMOUNT_LIMIT_EXCEEDED',
      scope: 'account',
      window: 'transaction',
    });
  });

  it('accepts exactly the per-transaction limit', () => {
    const rules = { account: { perTransaction: '1000' } };
    expect(reserve(EMPTY_LEDGER, request({ amount: '1000' }), rules, T0).ok).toBe(true);
  });

  it('refuses when the hour already holds the limit', () => {
    const rules = { account: { perHour: '500' } };
    const state = reserved(EMPTY_LEDGER, request({ amount: '500' }), rules, T0);
    expect(reserve(state, request({ amount: '0.01' }), rules, T0 + 1000)).toMatchObject({
      reason: 'AMOUNT_LIMIT_EXCEEDED',
      window: '1h',
      used: '500',
    });
  });

  it('an amount leaves the 1 h window exactly one hour after it was reserved', () => {
    const rules = { account: { perHour: '500' }, reservationTtlMs: 2 * HOUR_MS };
    const state = reserved(EMPTY_LEDGER, request({ amount: '500' }), rules, T0);
    expect(reserve(state, request({ amount: '1' }), rules, T0 + HOUR_MS - 1).ok).toBe(false);
    expect(reserve(state, request({ amount: '1' }), rules, T0 + HOUR_MS).ok).toBe(true);
  });

  it('the 24 h window still counts what left the 1 h window', () => {
    const rules = { account: { perHour: '500', perDay: '800' } };
    const req = request({ amount: '500' });
    let state = reserved(EMPTY_LEDGER, req, rules, T0);
    const committed = commitReservation(state, req.reservationId, T0);
    if (committed.ok) state = committed.newState;
    expect(reserve(state, request({ amount: '400' }), rules, T0 + 2 * HOUR_MS)).toMatchObject({
      reason: 'AMOUNT_LIMIT_EXCEEDED',
      window: '24h',
    });
    expect(reserve(state, request({ amount: '400' }), rules, T0 + DAY_MS).ok).toBe(true);
  });

  it('key limits count only that key', () => {
    const rules = { key: { perDay: '100' } };
    const state = reserved(EMPTY_LEDGER, request({ amount: '100', keyId: 'k1' }), rules, T0);
    expect(reserve(state, request({ amount: '100', keyId: 'k2' }), rules, T0).ok).toBe(true);
    expect(reserve(state, request({ amount: '1', keyId: 'k1' }), rules, T0)).toMatchObject({
      scope: 'key',
    });
  });

  it('account limits count every key of the account', () => {
    const rules = { account: { perDay: '100' } };
    const state = reserved(EMPTY_LEDGER, request({ amount: '100', keyId: 'k1' }), rules, T0);
    expect(reserve(state, request({ amount: '1', keyId: 'k2' }), rules, T0)).toMatchObject({
      scope: 'account',
    });
  });

  it('other assets do not count', () => {
    const rules = { account: { perDay: '100' } };
    const state = reserved(EMPTY_LEDGER, request({ amount: '100', asset: 'BTC' }), rules, T0);
    expect(reserve(state, request({ amount: '100' }), rules, T0).ok).toBe(true);
  });

  it('a limit that does not parse allows nothing', () => {
    expect(reserve(EMPTY_LEDGER, request(), { account: { perDay: 'lots' } }, T0).ok).toBe(false);
  });
});

describe('reservations: release, commit, lapse', () => {
  const rules: WithdrawalRules = { account: { perHour: '100' }, reservationTtlMs: 60_000 };

  it('a released reservation frees its amount', () => {
    const req = request({ amount: '100' });
    const state = reserved(EMPTY_LEDGER, req, rules, T0);
    const released = releaseReservation(state, req.reservationId);
    expect(
      released.ok && reserve(released.newState, request({ amount: '100' }), rules, T0).ok,
    ).toBe(true);
  });

  it('an uncommitted reservation lapses at its ttl', () => {
    const state = reserved(EMPTY_LEDGER, request({ amount: '100' }), rules, T0);
    expect(reserve(state, request({ amount: '1' }), rules, T0 + 59_999).ok).toBe(false);
    expect(reserve(state, request({ amount: '1' }), rules, T0 + 60_000).ok).toBe(true);
  });

  it('a lapsed reservation cannot be committed', () => {
    const req = request();
    const state = reserved(EMPTY_LEDGER, req, rules, T0);
    expect(commitReservation(state, req.reservationId, T0 + 60_000)).toMatchObject({
      reason: 'RESERVATION_LAPSED',
    });
  });

  it('a committed reservation cannot be released', () => {
    const req = request();
    const state = reserved(EMPTY_LEDGER, req, rules, T0);
    const committed = commitReservation(state, req.reservationId, T0);
    expect(committed.ok && releaseReservation(committed.newState, req.reservationId)).toMatchObject(
      { reason: 'ALREADY_COMMITTED' },
    );
  });

  it('a committed reservation keeps counting after its ttl', () => {
    const req = request({ amount: '100' });
    const committed = commitReservation(
      reserved(EMPTY_LEDGER, req, rules, T0),
      req.reservationId,
      T0,
    );
    expect(committed.ok && reserve(committed.newState, request(), rules, T0 + 120_000).ok).toBe(
      false,
    );
  });

  it('every change bumps the version (the store compare-and-sets on it)', () => {
    const req = request();
    const state = reserved(EMPTY_LEDGER, req, rules, T0);
    expect(state.version).toBe(1);
    const committed = commitReservation(state, req.reservationId, T0);
    expect(committed.ok && committed.newState.version).toBe(2);
  });

  it('pruning drops lapsed and old entries and keeps the rest', () => {
    const old = request({ amount: '1' });
    let state = reserved(EMPTY_LEDGER, old, rules, T0);
    const c = commitReservation(state, old.reservationId, T0);
    if (c.ok) state = c.newState;
    state = reserved(state, request({ amount: '2' }), rules, T0 + DAY_MS);
    expect(pruneLedger(state, T0 + DAY_MS).reservations.map((r) => r.amount)).toEqual(['2']);
  });

  it('reports the amount used in a window', () => {
    const state = reserved(EMPTY_LEDGER, request({ amount: '12.5' }), rules, T0);
    expect(usedInWindow(state, { accountId: 'acc_1', asset: 'USDT' }, HOUR_MS, T0)).toBe('12.5');
  });
});

describe('reserve: address book', () => {
  const entry = newAddressBookEntry(
    { id: 'adr_1', accountId: 'acc_1', asset: 'USDT', network: 'TRX', address: 'TXYZ' },
    T0,
  );
  const rules: WithdrawalRules = { addressBook: { required: true, entries: [entry] } };

  it('refuses an address that is not on the book', () => {
    expect(reserve(EMPTY_LEDGER, request({ address: 'TOTHER' }), rules, T0 + DAY_MS)).toMatchObject(
      { reason: 'ADDRESS_NOT_ALLOWED' },
    );
  });

  it('refuses the right address on another network', () => {
    expect(reserve(EMPTY_LEDGER, request({ network: 'ETH' }), rules, T0 + DAY_MS)).toMatchObject({
      reason: 'ADDRESS_NOT_ALLOWED',
    });
  });

  it('refuses an address of another account', () => {
    expect(
      reserve(EMPTY_LEDGER, request({ accountId: 'acc_2' }), rules, T0 + DAY_MS),
    ).toMatchObject({ reason: 'ADDRESS_NOT_ALLOWED' });
  });

  it('refuses an address still cooling down', () => {
    expect(reserve(EMPTY_LEDGER, request(), rules, T0 + DAY_MS - 1)).toMatchObject({
      reason: 'ADDRESS_COOLING_DOWN',
    });
  });

  it('accepts the address when the cool-down ends', () => {
    expect(reserve(EMPTY_LEDGER, request(), rules, T0 + DAY_MS).ok).toBe(true);
  });

  it('lets any address through when the account does not require the book', () => {
    const optional: WithdrawalRules = { addressBook: { required: false, entries: [] } };
    expect(reserve(EMPTY_LEDGER, request({ address: 'ANY' }), optional, T0).ok).toBe(true);
  });
});

describe('property: reservations never exceed a limit in any window', () => {
  type Op =
    | { kind: 'reserve'; amount: string; keyId: string; advanceMs: number }
    | { kind: 'commit' | 'release'; pick: number; advanceMs: number };
  const amount = fc
    .tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 99 }))
    .filter(([w, f]) => w + f > 0)
    .map(([w, f]) => (f === 0 ? `${w}` : `${w}.${String(f).padStart(2, '0')}`));
  const advance = fc.integer({ min: 0, max: 20 * 60_000 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('reserve' as const),
      amount,
      keyId: fc.constantFrom('k1', 'k2'),
      advanceMs: advance,
    }),
    fc.record({
      kind: fc.constantFrom('commit' as const, 'release' as const),
      pick: fc.nat(),
      advanceMs: advance,
    }),
  );
  const rules: WithdrawalRules = {
    account: { perHour: '1000', perDay: '3000' },
    key: { perHour: '700' },
    reservationTtlMs: 15 * 60_000,
  };

  it('holds after every operation, for the account and each key', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let state: LedgerState = EMPTY_LEDGER;
        let now = T0;
        let n = 0;
        for (const o of ops) {
          now += o.advanceMs;
          if (o.kind === 'reserve') {
            const r = reserve(
              state,
              request({ reservationId: `p${n++}`, amount: o.amount, keyId: o.keyId }),
              rules,
              now,
            );
            if (r.ok) state = r.newState;
          } else if (state.reservations.length > 0) {
            const target = state.reservations[o.pick % state.reservations.length];
            if (target) {
              const r =
                o.kind === 'commit'
                  ? commitReservation(state, target.id, now)
                  : releaseReservation(state, target.id);
              if (r.ok) state = r.newState;
            }
          }
          const used = (windowMs: number, keyId?: string) =>
            parseDecimal(
              usedInWindow(
                state,
                { accountId: 'acc_1', asset: 'USDT', ...(keyId ? { keyId } : {}) },
                windowMs,
                now,
              ),
            ) ?? 0n;
          expect(used(HOUR_MS)).toBeLessThanOrEqual(parseDecimal('1000') ?? 0n);
          expect(used(DAY_MS)).toBeLessThanOrEqual(parseDecimal('3000') ?? 0n);
          expect(used(HOUR_MS, 'k1')).toBeLessThanOrEqual(parseDecimal('700') ?? 0n);
          expect(used(HOUR_MS, 'k2')).toBeLessThanOrEqual(parseDecimal('700') ?? 0n);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('concurrent reservations through an atomic store', () => {
  /** A minimal store: applies the pure decision to the latest state, one at a time. */
  function createSerialStore() {
    let state: LedgerState = EMPTY_LEDGER;
    let tail: Promise<unknown> = Promise.resolve();
    return {
      reserve(req: WithdrawalRequest, rules: WithdrawalRules, now: number) {
        const run = tail.then(() => {
          const result = reserve(state, req, rules, now);
          if (result.ok) state = result.newState;
          return result.ok;
        });
        tail = run;
        return run;
      },
      get state() {
        return state;
      },
    };
  }

  it('fifty racing requests never exceed the hourly limit together', async () => {
    const store = createSerialStore();
    const rules = { account: { perHour: '1000' } };
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () => store.reserve(request({ amount: '75' }), rules, T0)),
    );
    expect(outcomes.filter(Boolean)).toHaveLength(13);
    expect(usedInWindow(store.state, { accountId: 'acc_1', asset: 'USDT' }, HOUR_MS, T0)).toBe(
      '975',
    );
  });

  it('deciding on a stale snapshot is what the version check exists to catch', () => {
    const rules = { account: { perHour: '100' } };
    const snapshot = EMPTY_LEDGER;
    const a = reserve(snapshot, request({ amount: '100' }), rules, T0);
    const b = reserve(snapshot, request({ amount: '100' }), rules, T0);
    // Both pass on the same snapshot and claim the same next version: a CAS store keeps one.
    expect(a.ok && b.ok && a.newState.version === b.newState.version).toBe(true);
  });
});
