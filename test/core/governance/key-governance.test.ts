import { describe, expect, it } from 'vitest';
import {
  DEFAULT_GOVERNANCE_POLICIES,
  evaluateKeyGovernance,
  keysReport,
  mergeKeysReports,
  type GovernancePolicies,
  type GovernancePolicy,
} from '../../../src/core/governance/index.js';
import type { ApiKey } from '../../../src/core/keys/model.js';
import { createManualClock } from '../../helpers/manual-clock.js';

const DAY = 86_400_000;
const T0 = 1_767_225_600_000;

function key(overrides: Partial<ApiKey> = {}): ApiKey {
  return {
    id: 'pk_live_a',
    accountId: 'acc_1',
    label: 'bot',
    environment: 'production',
    scheme: 'hmac',
    scopes: ['read', 'trade'],
    ipAllowlist: ['203.0.113.0/24'],
    hasPassphrase: false,
    status: 'active',
    createdAt: T0,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    epoch: 1,
    secretVersion: 1,
    ...overrides,
  };
}

const quiet: GovernancePolicy = {
  maxKeyAgeMs: null,
  warnBeforeMs: 7 * DAY,
  onMaxAge: 'step_down',
  unrestrictedScopeTtlMs: null,
  unrestrictedLosesScopes: ['trade', 'withdraw'],
  unrestrictedMayWithdraw: true,
  dormantAfterMs: null,
};

function policies(production: Partial<GovernancePolicy>): GovernancePolicies {
  return { sandbox: quiet, production: { ...quiet, ...production } };
}

const codes = (r: ReturnType<typeof evaluateKeyGovernance>) => r.findings.map((f) => f.code);

describe('maximum key age', () => {
  const p = policies({ maxKeyAgeMs: 90 * DAY });

  it('is silent before the warning period', () => {
    expect(evaluateKeyGovernance(key(), p, T0 + 82 * DAY)).toEqual({ findings: [], actions: [] });
  });

  it('warns during the warning period, without acting', () => {
    const clock = createManualClock(T0 + 83 * DAY);
    const result = evaluateKeyGovernance(key(), p, clock.now());
    expect([codes(result), result.actions]).toEqual([['KEY_AGE_WARNING'], []]);
  });

  it('steps the key down to read at maximum age, not a millisecond before', () => {
    expect(evaluateKeyGovernance(key(), p, T0 + 90 * DAY - 1).actions).toEqual([]);
    expect(evaluateKeyGovernance(key(), p, T0 + 90 * DAY).actions).toEqual([
      { type: 'remove_scopes', keyId: 'pk_live_a', scopes: ['trade'], because: 'KEY_TOO_OLD' },
    ]);
  });

  it('expires the key instead when the policy says so', () => {
    const expire = policies({ maxKeyAgeMs: 90 * DAY, onMaxAge: 'expire' });
    expect(evaluateKeyGovernance(key(), expire, T0 + 90 * DAY).actions).toEqual([
      { type: 'expire', keyId: 'pk_live_a', because: 'KEY_TOO_OLD' },
    ]);
  });

  it('has nothing to say about an old key already stepped down to read', () => {
    expect(evaluateKeyGovernance(key({ scopes: ['read'] }), p, T0 + 200 * DAY).findings).toEqual(
      [],
    );
  });
});

describe('keys without an IP allowlist', () => {
  const open = { ipAllowlist: [] as string[], scopes: ['read', 'trade', 'withdraw'] as const };

  it('lose trade and withdraw after the configured time (Binance: 30 days)', () => {
    const p = policies({ unrestrictedScopeTtlMs: 30 * DAY });
    expect(evaluateKeyGovernance(key(open), p, T0 + 30 * DAY - 1).actions).toEqual([]);
    expect(evaluateKeyGovernance(key(open), p, T0 + 30 * DAY).actions).toEqual([
      {
        type: 'remove_scopes',
        keyId: 'pk_live_a',
        scopes: ['trade', 'withdraw'],
        because: 'UNRESTRICTED_SCOPES_LAPSED',
      },
    ]);
  });

  it('warns before they lapse', () => {
    const p = policies({ unrestrictedScopeTtlMs: 30 * DAY });
    expect(codes(evaluateKeyGovernance(key(open), p, T0 + 25 * DAY))).toEqual([
      'UNRESTRICTED_SCOPES_EXPIRING',
    ]);
  });

  it('cannot hold withdraw at all when the policy forbids it', () => {
    const p = policies({ unrestrictedMayWithdraw: false });
    expect(evaluateKeyGovernance(key(open), p, T0).actions).toEqual([
      {
        type: 'remove_scopes',
        keyId: 'pk_live_a',
        scopes: ['withdraw'],
        because: 'UNRESTRICTED_WITHDRAW',
      },
    ]);
  });

  it('does not remove a scope twice when two rules take it', () => {
    const p = policies({ unrestrictedMayWithdraw: false, unrestrictedScopeTtlMs: 30 * DAY });
    const scopes = evaluateKeyGovernance(key(open), p, T0 + 31 * DAY).actions.flatMap((a) =>
      a.type === 'remove_scopes' ? a.scopes : [],
    );
    expect(scopes).toEqual(['withdraw', 'trade']);
  });

  it('leaves keys with an allowlist alone', () => {
    const p = policies({ unrestrictedScopeTtlMs: 30 * DAY, unrestrictedMayWithdraw: false });
    const restricted = key({ scopes: ['read', 'trade', 'withdraw'] });
    expect(evaluateKeyGovernance(restricted, p, T0 + 400 * DAY).findings).toEqual([]);
  });
});

describe('dormant keys', () => {
  const p = policies({ dormantAfterMs: 60 * DAY });

  it('are disabled after dormantAfterMs without use', () => {
    const used = key({ lastUsedAt: T0 + 10 * DAY });
    expect(evaluateKeyGovernance(used, p, T0 + 70 * DAY - 1).actions).toEqual([]);
    expect(evaluateKeyGovernance(used, p, T0 + 70 * DAY).actions).toEqual([
      { type: 'disable', keyId: 'pk_live_a', because: 'KEY_DORMANT' },
    ]);
  });

  it('count from creation when never used', () => {
    expect(codes(evaluateKeyGovernance(key(), p, T0 + 60 * DAY))).toEqual(['KEY_DORMANT']);
  });

  it('warn before being disabled', () => {
    expect(codes(evaluateKeyGovernance(key(), p, T0 + 55 * DAY))).toEqual(['KEY_DORMANT_SOON']);
  });
});

describe('evaluateKeyGovernance', () => {
  it('ignores revoked and expired keys', () => {
    const p = policies({ dormantAfterMs: DAY });
    expect(evaluateKeyGovernance(key({ status: 'revoked' }), p, T0 + 9 * DAY).findings).toEqual([]);
    expect(evaluateKeyGovernance(key({ expiresAt: T0 + DAY }), p, T0 + 9 * DAY).findings).toEqual(
      [],
    );
  });

  it('applies the policy of the key environment', () => {
    const sandboxKey = key({ id: 'pk_test_a', environment: 'sandbox' });
    const p = policies({ dormantAfterMs: DAY });
    expect(evaluateKeyGovernance(sandboxKey, p, T0 + 9 * DAY).findings).toEqual([]);
  });

  it('by default strips withdraw from an unrestricted production key at once', () => {
    const open = key({ ipAllowlist: [], scopes: ['read', 'withdraw'], lastUsedAt: T0 });
    expect(codes(evaluateKeyGovernance(open, DEFAULT_GOVERNANCE_POLICIES, T0))).toEqual([
      'UNRESTRICTED_WITHDRAW',
    ]);
  });
});

describe('keysReport', () => {
  const p = policies({ maxKeyAgeMs: 90 * DAY, dormantAfterMs: 365 * DAY });

  it('lists breaches first, then warnings by deadline, and omits compliant keys', () => {
    const keys = [
      key({ id: 'pk_live_fresh', createdAt: T0 + 80 * DAY }),
      key({ id: 'pk_live_warn', createdAt: T0 + 5 * DAY }),
      key({ id: 'pk_live_old', createdAt: T0 - 10 * DAY }),
      key({ id: 'pk_test_old', environment: 'sandbox', createdAt: T0 - 400 * DAY }),
    ];
    const report = keysReport(keys, p, T0 + 90 * DAY);
    expect(report.rows.map((r) => r.keyId)).toEqual(['pk_live_old', 'pk_live_warn']);
    expect(report.totals).toEqual({
      production: { breached: 1, warned: 1 },
      sandbox: { breached: 0, warned: 0 },
    });
  });

  it('is the same report when its keys are evaluated a page at a time and merged', () => {
    const keys = [
      key({ id: 'pk_live_b', createdAt: T0 + 5 * DAY }),
      key({ id: 'pk_live_old', createdAt: T0 - 10 * DAY }),
      key({ id: 'pk_live_a', createdAt: T0 + 5 * DAY }),
      key({ id: 'pk_live_fresh', createdAt: T0 + 80 * DAY }),
      key({ id: 'pk_live_older', createdAt: T0 - 20 * DAY }),
      key({ id: 'pk_live_warn', createdAt: T0 + 2 * DAY }),
    ];
    const now = T0 + 90 * DAY;
    const whole = keysReport(keys, p, now);
    expect(whole.rows.map((r) => r.keyId)).toEqual([
      'pk_live_older',
      'pk_live_old',
      'pk_live_warn',
      'pk_live_a',
      'pk_live_b',
    ]);
    for (const size of [1, 2, 4]) {
      const parts = [];
      for (let i = 0; i < keys.length; i += size)
        parts.push(keysReport(keys.slice(i, i + size), p, now));
      expect(mergeKeysReports(parts, now), `pages of ${size}`).toEqual(whole);
    }
    expect(mergeKeysReports([], now)).toEqual(keysReport([], p, now));
  });
});
