/**
 * The spend-allowance part of the governance store contract (called from
 * governance-store.contract.ts inside its per-test store): allowances stored and listed,
 * holds counted atomically — also across two instances on the same data — released holds
 * given back, committed ones kept, and removals audited.
 */
import { describe, expect, it } from 'vitest';
import type { AuditDraft } from '../../src/core/audit/audit-chain.js';
import type { AllowanceSpend } from '../../src/core/transactions/allowance-ledger.js';
import type { SpendAllowance } from '../../src/core/transactions/spend-allowance.js';
import type {
  AllowanceStore,
  ControlStore,
  StoredKey,
  StoredSecretVersion,
} from '../../src/ports.js';

type Store = AllowanceStore & Pick<ControlStore, 'listAudit' | 'createKey' | 'getKey'>;

/** A key of account acc_1 (which the governance contract creates before each test). */
const storedKey = (id: string): StoredKey => ({
  key: {
    id,
    accountId: 'acc_1',
    label: '',
    environment: 'sandbox',
    scheme: 'hmac',
    scopes: ['trade'],
    ipAllowlist: [],
    hasPassphrase: false,
    status: 'active',
    createdAt: T0,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    epoch: 1,
    secretVersion: 1,
  },
  passphraseHash: null,
  publicKeyPem: null,
});
const fill = (n: number, byte: number) => Buffer.alloc(n, byte);
const secretOf = (keyId: string): StoredSecretVersion => ({
  keyId,
  version: 1,
  sealed: {
    ciphertext: fill(40, 1),
    iv: fill(12, 1),
    tag: fill(16, 1),
    wrappedDek: fill(32, 1),
    dekIv: fill(12, 1),
    dekTag: fill(16, 1),
    kekId: 'kek-a',
  },
  createdAt: T0,
  notAfter: null,
});

const T0 = 1_767_225_600_000;
const HOUR_MS = 3_600_000;

const audit = (action: string): AuditDraft => ({
  ts: T0,
  actor: 'adm_contract',
  action,
  target: 'pk_test_k',
  requestId: `req_${action}`,
  data: {},
});

const allowance = (id: string, overrides: Partial<SpendAllowance> = {}): SpendAllowance => ({
  id,
  keyId: 'pk_test_k',
  kind: 'notional',
  asset: 'USDT',
  amountPerPeriod: '1000',
  periodMs: HOUR_MS,
  startsAt: T0,
  expiresAt: T0 + 24 * HOUR_MS,
  ...overrides,
});

const spend = (holdId: string, amount: string, asset = 'USDT'): AllowanceSpend => ({
  holdId,
  keyId: 'pk_test_k',
  kind: 'notional',
  asset,
  amount,
});

const outcome = (d: Awaited<ReturnType<AllowanceStore['holdAllowances']>>): string =>
  d.ok ? (d.held ? 'held' : 'none') : d.reason;

export function describeAllowanceStoreContract(
  store: () => Store,
  peer: () => Promise<Store>,
): void {
  describe('spend allowances', () => {
    it('stores, lists (oldest first) and removes allowances, auditing both changes', async () => {
      await store().addAllowance(allowance('alw_b'), T0, audit('key.allowance.add'));
      await store().addAllowance(
        allowance('alw_a', { kind: 'withdrawal', asset: 'BTC', amountPerPeriod: '0.5' }),
        T0 + 1,
        audit('key.allowance.add'),
      );
      const listed = await store().listAllowances('pk_test_k');
      expect(listed.map((s) => s.allowance)).toEqual([
        allowance('alw_b'),
        allowance('alw_a', { kind: 'withdrawal', asset: 'BTC', amountPerPeriod: '0.5' }),
      ]);
      expect(listed.map((s) => [s.createdAt, s.usage])).toEqual([
        [T0, undefined],
        [T0 + 1, undefined],
      ]);
      expect(
        await store().removeAllowance('pk_test_k', 'alw_b', audit('key.allowance.remove')),
      ).toBe(true);
      expect(
        await store().removeAllowance('pk_test_k', 'alw_b', audit('key.allowance.remove')),
      ).toBe(false);
      expect(
        await store().removeAllowance('pk_other', 'alw_a', audit('key.allowance.remove')),
      ).toBe(false);
      expect((await store().listAllowances('pk_test_k')).map((s) => s.allowance.id)).toEqual([
        'alw_a',
      ]);
      const actions = (await store().listAudit({ limit: 100 })).map((e) => e.action);
      expect(actions.filter((a) => a.startsWith('key.allowance.'))).toHaveLength(3);
    });

    it('loads a key with the kinds of its allowances, and without them when it has none', async () => {
      const stored = storedKey('pk_test_k');
      await store().createKey(stored, secretOf('pk_test_k'), audit('key.create'));
      expect(await store().getKey('pk_test_k')).toEqual(stored);
      await store().addAllowance(allowance('alw_w', { kind: 'withdrawal' }), T0, audit('a'));
      await store().addAllowance(allowance('alw_n1'), T0, audit('a'));
      await store().addAllowance(allowance('alw_n2'), T0, audit('a'));
      expect((await store().getKey('pk_test_k'))?.key.allowanceKinds).toEqual([
        'notional',
        'withdrawal',
      ]);
      for (const id of ['alw_w', 'alw_n1'])
        await store().removeAllowance('pk_test_k', id, audit('r'));
      expect((await store().getKey('pk_test_k'))?.key.allowanceKinds).toEqual(['notional']);
      await store().removeAllowance('pk_test_k', 'alw_n2', audit('r'));
      expect(await store().getKey('pk_test_k')).toEqual(stored);
    });

    it('answers "none" for a key without an allowance of the kind', async () => {
      await store().addAllowance(allowance('alw_1', { kind: 'withdrawal' }), T0, audit('a'));
      expect(outcome(await store().holdAllowances(spend('h1', '5'), T0))).toBe('none');
    });

    it('counts holds in the stored usage and refuses past the allowance', async () => {
      await store().addAllowance(allowance('alw_1'), T0, audit('a'));
      expect(outcome(await store().holdAllowances(spend('h1', '600'), T0 + 1))).toBe('held');
      expect(outcome(await store().holdAllowances(spend('h2', '400.01'), T0 + 2))).toBe(
        'ALLOWANCE_EXCEEDED',
      );
      expect(outcome(await store().holdAllowances(spend('h3', '400'), T0 + 3))).toBe('held');
      const [stored] = await store().listAllowances('pk_test_k');
      expect(stored?.usage).toEqual({ allowanceId: 'alw_1', periodStart: T0, spent: '1000' });
    });

    it('gives a released hold back and keeps a committed one, settling each once', async () => {
      await store().addAllowance(allowance('alw_1'), T0, audit('a'));
      await store().holdAllowances(spend('h1', '700'), T0);
      await store().holdAllowances(spend('h2', '300'), T0);
      expect(await store().settleAllowanceHold('h1', 'release')).toBe(true);
      expect(await store().settleAllowanceHold('h1', 'release')).toBe(false);
      expect(await store().settleAllowanceHold('h2', 'commit')).toBe(true);
      expect(await store().settleAllowanceHold('h2', 'release')).toBe(false);
      expect(await store().settleAllowanceHold('h_none', 'commit')).toBe(false);
      const [stored] = await store().listAllowances('pk_test_k');
      expect(stored?.usage?.spent).toBe('300');
      expect(outcome(await store().holdAllowances(spend('h3', '700'), T0 + 1))).toBe('held');
    });

    it('starts a new period from zero and refuses once expired', async () => {
      await store().addAllowance(
        allowance('alw_1', { expiresAt: T0 + 2 * HOUR_MS }),
        T0,
        audit('a'),
      );
      await store().holdAllowances(spend('h1', '1000'), T0);
      expect(outcome(await store().holdAllowances(spend('h2', '1'), T0 + HOUR_MS - 1))).toBe(
        'ALLOWANCE_EXCEEDED',
      );
      expect(outcome(await store().holdAllowances(spend('h3', '1000'), T0 + HOUR_MS))).toBe('held');
      expect(outcome(await store().holdAllowances(spend('h4', '1'), T0 + 2 * HOUR_MS))).toBe(
        'ALLOWANCE_EXPIRED',
      );
    });

    it('holds on every allowance of the asset, and refuses an asset none covers', async () => {
      await store().addAllowance(allowance('alw_h'), T0, audit('a'));
      await store().addAllowance(
        allowance('alw_d', { amountPerPeriod: '1500', periodMs: 24 * HOUR_MS }),
        T0,
        audit('a'),
      );
      expect(outcome(await store().holdAllowances(spend('h1', '1000'), T0))).toBe('held');
      // The hourly one has room again next hour, the daily one only 500.
      expect(outcome(await store().holdAllowances(spend('h2', '600'), T0 + HOUR_MS))).toBe(
        'ALLOWANCE_EXCEEDED',
      );
      expect(outcome(await store().holdAllowances(spend('h3', '500'), T0 + HOUR_MS))).toBe('held');
      expect(outcome(await store().holdAllowances(spend('h4', '1', 'BTC'), T0))).toBe(
        'ALLOWANCE_EXCEEDED',
      );
    });

    it('lets concurrent holds from two instances pass an allowance only up to it', async () => {
      await store().addAllowance(allowance('alw_1'), T0, audit('a'));
      const other = await peer();
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          (i % 2 ? other : store()).holdAllowances(spend(`h${i}`, '300'), T0 + i),
        ),
      );
      expect(results.map(outcome).filter((o) => o === 'held')).toHaveLength(3);
      expect(results.map(outcome).filter((o) => o !== 'held')).toEqual(
        Array<string>(9).fill('ALLOWANCE_EXCEEDED'),
      );
      const [stored] = await store().listAllowances('pk_test_k');
      expect(stored?.usage?.spent).toBe('900');
    });
  });
}
