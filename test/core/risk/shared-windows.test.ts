/** The contributions a batch makes to the cluster's shared failure windows and rates (pure). */
import { describe, expect, it } from 'vitest';
import { resolveRiskConfig, type RiskEvent } from '../../../src/core/risk/index.js';
import {
  addRateToBatch,
  addToBatch,
  createContributionBatch,
  MAX_SPRAY_MEMBER_CHARS,
  RATE_STATE_TTL_MS,
  onlySharedSignals,
  withoutSharedSignals,
} from '../../../src/core/risk/shared-windows.js';
import { allowedEvent, denial, RISK_T0 } from '../../helpers/risk-events.js';

const T0 = RISK_T0;

/** The contributions of `events` as one batch, added by `add` (failures, or rates). */
function batchOf(
  events: readonly RiskEvent[],
  config = resolveRiskConfig(),
  add: typeof addToBatch = addToBatch,
) {
  const batch = createContributionBatch();
  for (const event of events) add(batch, event, config);
  return batch.byId;
}

describe('shared failure windows: what a batch contributes', () => {
  it('counts denials per bucket, per subject, and names the latest event', () => {
    const windows = batchOf([
      denial(),
      denial({ nowMs: T0 + 4_999 }),
      denial({ nowMs: T0 + 5_000, action: 'order.cancel' }),
    ]);
    const key = windows.get('failure_burst:production:key:pk_live_a');
    expect(key?.slotMs).toBe(5_000);
    expect([...(key?.counts ?? [])]).toEqual([
      [Math.floor(T0 / 5_000), 2],
      [Math.floor(T0 / 5_000) + 1, 1],
    ]);
    expect(key?.last.action).toBe('order.cancel');
    expect(key?.threshold).toBe(20);
    expect(windows.get('failure_burst:production:ip_prefix:203.0.113.0/24')?.threshold).toBe(50);
    expect([
      ...(windows.get('key_spray:production:ip_prefix:203.0.113.0/24')?.members ?? []),
    ]).toEqual([['pk_live_a', T0 + 5_000]]);
  });

  it('counts nothing the engine would not: allowed requests, ignored reasons, off signals', () => {
    expect(batchOf([denial({ outcome: 'allow' })]).size).toBe(0);
    expect(
      batchOf([denial({ reason: 'RATE_LIMITED' }), denial({ reason: 'IP_BANNED' })]).size,
    ).toBe(0);
    const off = resolveRiskConfig({
      environments: { production: { failureBurst: { mode: 'off' }, keySpray: { mode: 'off' } } },
    });
    expect(batchOf([denial()], off).size).toBe(0);
    // An unknown key id counts towards its prefix only.
    expect([...batchOf([denial({ reason: 'KEY_UNKNOWN' })]).keys()]).toEqual([
      'failure_burst:production:ip_prefix:203.0.113.0/24',
      'key_spray:production:ip_prefix:203.0.113.0/24',
    ]);
  });

  it('stores a guessed key id longer than any issued one by a short digest', () => {
    const long = (c: string) => c.repeat(10_000);
    const members = (keyId: string) => [
      ...(batchOf([denial({ keyId, reason: 'KEY_UNKNOWN' })])
        .get('key_spray:production:ip_prefix:203.0.113.0/24')
        ?.members.keys() ?? []),
    ];
    const [a] = members(long('a'));
    const [b] = members(long('b'));
    expect(a?.length).toBeLessThanOrEqual(MAX_SPRAY_MEMBER_CHARS);
    expect(a).not.toBe(b);
    expect(members(long('a'))).toEqual([a]);
    expect(members('pk_live_short')).toEqual(['pk_live_short']);
  });

  it('splits the engine: shared signals off in one, only them in the other', () => {
    const config = resolveRiskConfig();
    const rest = withoutSharedSignals(config).environments.production;
    const own = onlySharedSignals(config).environments.production;
    expect([rest.failureBurst.mode, rest.keySpray.mode]).toEqual(['off', 'off']);
    expect([rest.rateSpike.mode, rest.newIpPrefix.mode]).toEqual(['enforce', 'enforce']);
    expect([own.failureBurst.mode, own.keySpray.mode]).toEqual(['enforce', 'enforce']);
    expect([own.rateSpike.mode, own.newIpPrefix.mode, own.unusualHour.mode]).toEqual([
      'off',
      'off',
      'off',
    ]);
  });
});

describe('shared rates: what a batch contributes', () => {
  const rates = (events: readonly RiskEvent[], config = resolveRiskConfig()) =>
    batchOf(events, config, addRateToBatch);

  it('counts every request of a known key and of an account per interval, any outcome', () => {
    const byId = rates([
      allowedEvent(),
      denial({ nowMs: T0 + 59_999 }),
      denial({ nowMs: T0 + 60_000, reason: 'RATE_LIMITED' }),
    ]);
    const key = byId.get('rate_spike:production:key:pk_live_a');
    const interval = Math.floor(T0 / 60_000);
    expect([...(key?.counts ?? [])]).toEqual([
      [interval, 2],
      [interval + 1, 1],
    ]);
    expect(key?.threshold).toBe(6);
    expect(key?.slotMs).toBe(60_000);
    expect(key?.windowMs).toBe(RATE_STATE_TTL_MS);
    expect(key?.rate).toEqual({
      intervalMs: 60_000,
      lambda: 0.1,
      warmupIntervals: 30,
      minRequestsPerInterval: 120,
    });
    expect([...(byId.get('rate_spike:production:account:acc_a')?.counts ?? [])]).toEqual([
      [interval, 2],
      [interval + 1, 1],
    ]);
  });

  it('does not count a guessed key id as a key, nor anything when rate_spike is off', () => {
    const guessed = rates([denial({ keyId: 'pk_guess', reason: 'KEY_UNKNOWN' })]);
    expect([...guessed.keys()]).toEqual(['rate_spike:production:account:acc_a']);
    const off = resolveRiskConfig({ environments: { production: { rateSpike: { mode: 'off' } } } });
    expect(rates([denial()], off).size).toBe(0);
  });
});
