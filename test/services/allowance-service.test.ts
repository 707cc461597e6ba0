/** Spend allowances at service level, over a real SQLite store and a manual clock. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSqliteControlStore,
  type SqliteControlStore,
} from '../../src/adapters/sqlite/sqlite-control-store.js';
import { isPortcullisError } from '../../src/core/errors.js';
import type { ChangeEvent, StoredKey } from '../../src/ports.js';
import { createApprovalService } from '../../src/services/approval-service.js';
import {
  allowanceJson,
  createAllowanceService,
  type AllowanceInput,
  type AllowanceService,
} from '../../src/services/allowance-service.js';
import { createManualClock, type ManualClock } from '../helpers/manual-clock.js';

const CTX = { actor: 'adm_test', requestId: 'req_test', person: 'label:alice' };
const HOUR_MS = 3_600_000;
const codeOf = async (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'ok',
    (error: unknown) => (isPortcullisError(error) ? error.code : 'other'),
  );

const hourly: AllowanceInput = {
  kind: 'notional',
  asset: 'USDT',
  amount: '1000',
  period: '1h',
  expiresIn: '3h',
};

describe('allowance service', () => {
  let store: SqliteControlStore;
  let clock: ManualClock;
  let service: AllowanceService;
  beforeEach(() => {
    clock = createManualClock();
    store = createSqliteControlStore({ path: ':memory:', clock });
    store.setAuditSealer((hash) => hash);
    service = createAllowanceService({
      clock,
      store: {
        addAllowance: (allowance, at, audit) => store.addAllowance(allowance, at, audit),
        listAllowances: (keyId) => store.listAllowances(keyId),
        removeAllowance: (keyId, id, audit) => store.removeAllowance(keyId, id, audit),
        holdAllowances: (spend, nowMs) => store.holdAllowances(spend, nowMs),
        settleAllowanceHold: (holdId, outcome) => store.settleAllowanceHold(holdId, outcome),
        // One known key; the store's key table is not what is under test here.
        getKey: (id) =>
          Promise.resolve(
            id === 'pk_1' ? ({ key: { id, epoch: 1 } } as unknown as StoredKey) : undefined,
          ),
      },
    });
  });
  afterEach(async () => {
    await store.close();
  });

  it('adds an allowance in force from now and shows its period usage', async () => {
    const added = await service.add('pk_1', hourly, CTX);
    expect(added.allowance).toMatchObject({
      keyId: 'pk_1',
      amountPerPeriod: '1000',
      periodMs: HOUR_MS,
      startsAt: clock.now(),
      expiresAt: clock.now() + 3 * HOUR_MS,
    });
    expect(
      await service.hold({ keyId: 'pk_1', kind: 'notional', asset: 'USDT', amount: '400' }),
    ).toMatchObject({ kind: 'held' });
    const [stored] = await service.list('pk_1');
    expect(stored && allowanceJson(stored, clock.now())).toMatchObject({
      period: '1h',
      state: 'active',
      spent: '400',
      remaining: '600',
    });
    const [entry] = await store.listAudit({ action: 'key.allowance.add', limit: 1 });
    expect(entry).toMatchObject({ actor: 'adm_test', target: 'pk_1' });
  });

  it('refuses past the allowance, gives a released hold back, and expires', async () => {
    await service.add('pk_1', hourly, CTX);
    const spend = { keyId: 'pk_1', kind: 'notional' as const, asset: 'USDT', amount: '1000' };
    const held = await service.hold(spend);
    expect(await service.hold({ ...spend, amount: '1' })).toEqual({
      kind: 'refused',
      reason: 'ALLOWANCE_EXCEEDED',
    });
    expect(held.kind === 'held' && (await service.settle(held.holdId, 'release'))).toBe(true);
    expect((await service.hold(spend)).kind).toBe('held');
    clock.advance(3 * HOUR_MS);
    expect(await service.hold({ ...spend, amount: '1' })).toEqual({
      kind: 'refused',
      reason: 'ALLOWANCE_EXPIRED',
    });
    const [stored] = await service.list('pk_1');
    expect(stored && allowanceJson(stored, clock.now())).toMatchObject({
      state: 'expired',
      remaining: null,
    });
  });

  it('answers none for a kind the key has no allowance of', async () => {
    await service.add('pk_1', hourly, CTX);
    expect(
      await service.hold({ keyId: 'pk_1', kind: 'withdrawal', asset: 'USDT', amount: '5' }),
    ).toEqual({ kind: 'none' });
  });

  it('a lifetime allowance is one period up to its expiry', async () => {
    const added = await service.add(
      'pk_1',
      { ...hourly, period: 'lifetime', expiresIn: '30d' },
      CTX,
    );
    expect(added.allowance.periodMs).toBe(30 * 24 * HOUR_MS);
    expect(allowanceJson(added, clock.now()).period).toBe('lifetime');
  });

  it('removes an allowance (audited), and answers ALLOWANCE_NOT_FOUND for an unknown one', async () => {
    const { allowance } = await service.add('pk_1', hourly, CTX);
    await service.remove('pk_1', allowance.id, CTX);
    expect(await service.list('pk_1')).toEqual([]);
    expect(await codeOf(service.remove('pk_1', allowance.id, CTX))).toBe('ALLOWANCE_NOT_FOUND');
    expect(await store.listAudit({ action: 'key.allowance.remove', limit: 5 })).toHaveLength(1);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown kind', { kind: 'transfer' }, 'VALIDATION_FAILED'],
    ['a lower-case asset', { asset: 'usdt' }, 'VALIDATION_FAILED'],
    ['a zero amount', { amount: '0' }, 'VALIDATION_FAILED'],
    ['an exponent amount', { amount: '1e3' }, 'VALIDATION_FAILED'],
    ['a bad period', { period: 'hourly' }, 'INVALID_DURATION'],
    ['a period under a minute', { period: '30s' }, 'VALIDATION_FAILED'],
    ['no expiry', { expiresIn: undefined }, 'VALIDATION_FAILED'],
    ['two expiries', { expiresAt: '2099-01-01T00:00:00Z' }, 'VALIDATION_FAILED'],
    ['a bad expiresIn', { expiresIn: 'soon' }, 'INVALID_DURATION'],
    [
      'an expiry in the past',
      { expiresIn: undefined, expiresAt: '2000-01-01T00:00:00Z' },
      'VALIDATION_FAILED',
    ],
    ['an expiry beyond 366 days', { expiresIn: '400d' }, 'VALIDATION_FAILED'],
  ])('refuses %s with %s', async (_name, change, code) => {
    const merged: Record<string, unknown> = { ...hourly, ...change };
    // An explicit undefined stands for "not given".
    for (const [name, value] of Object.entries(merged))
      if (value === undefined) delete merged[name];
    const input = merged as unknown as AllowanceInput;
    expect(await codeOf(service.add('pk_1', input, CTX))).toBe(code);
    expect(await store.listAllowances('pk_1')).toEqual([]);
  });

  it('holds a removal for approval with a quorum: removed on quorum, never by its initiator', async () => {
    const approvals = createApprovalService({ store, clock });
    const gated = createAllowanceService({
      clock,
      approvals,
      removalQuorum: 2,
      store: {
        addAllowance: (allowance, at, audit) => store.addAllowance(allowance, at, audit),
        listAllowances: (keyId) => store.listAllowances(keyId),
        removeAllowance: (keyId, id, audit) => store.removeAllowance(keyId, id, audit),
        holdAllowances: (spend, nowMs) => store.holdAllowances(spend, nowMs),
        settleAllowanceHold: (holdId, outcome) => store.settleAllowanceHold(holdId, outcome),
        getKey: (id) =>
          Promise.resolve(
            id === 'pk_1' ? ({ key: { id, epoch: 1 } } as unknown as StoredKey) : undefined,
          ),
      },
    });
    const { allowance } = await gated.add('pk_1', hourly, CTX);
    expect(await codeOf(gated.remove('pk_1', 'alw_none', CTX))).toBe('ALLOWANCE_NOT_FOUND');
    const held = await gated.remove('pk_1', allowance.id, CTX);
    if (!('approvalId' in held)) throw new Error('not held');
    expect(await service.list('pk_1')).toHaveLength(1);
    const vote = (person: string) =>
      approvals.vote(held.approvalId, { person, vote: 'approve' }, CTX);
    expect(await codeOf(vote('label:alice'))).toBe('APPROVAL_SELF');
    await vote('bob');
    expect((await vote('carol')).approval.state).toBe('executed');
    expect(await service.list('pk_1')).toEqual([]);
  });

  it('drops the key from every key cache on add and remove (key.changed)', async () => {
    const published: ChangeEvent[] = [];
    const events = { publish: (e: ChangeEvent) => published.push(e), subscribe: () => () => {} };
    const withEvents = createAllowanceService({
      clock,
      events,
      store: {
        addAllowance: (allowance, at, audit) => store.addAllowance(allowance, at, audit),
        listAllowances: (keyId) => store.listAllowances(keyId),
        removeAllowance: (keyId, id, audit) => store.removeAllowance(keyId, id, audit),
        holdAllowances: (spend, nowMs) => store.holdAllowances(spend, nowMs),
        settleAllowanceHold: (holdId, outcome) => store.settleAllowanceHold(holdId, outcome),
        getKey: (id) =>
          Promise.resolve(
            id === 'pk_1' ? ({ key: { id, epoch: 7 } } as unknown as StoredKey) : undefined,
          ),
      },
    });
    const { allowance } = await withEvents.add('pk_1', hourly, CTX);
    await withEvents.remove('pk_1', allowance.id, CTX);
    expect(published).toEqual([
      { type: 'key.changed', keyId: 'pk_1', epoch: 7 },
      { type: 'key.changed', keyId: 'pk_1', epoch: 7 },
    ]);
  });

  it('answers KEY_NOT_FOUND for an unknown key', async () => {
    expect(await codeOf(service.add('pk_none', hourly, CTX))).toBe('KEY_NOT_FOUND');
    expect(await codeOf(service.list('pk_none'))).toBe('KEY_NOT_FOUND');
  });

  it('bounds the number of allowances per key', async () => {
    for (let i = 0; i < 16; i++) await service.add('pk_1', hourly, CTX);
    expect(await codeOf(service.add('pk_1', hourly, CTX))).toBe('VALIDATION_FAILED');
  });
});
