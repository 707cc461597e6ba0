import { describe, expect, it } from 'vitest';
import {
  createRiskEngine,
  resolveRiskConfig,
  type RiskConfigOverrides,
  type RiskEvent,
  type Signal,
} from '../../../src/core/risk/index.js';

const T0 = Date.UTC(2025, 0, 6, 0, 0, 0); // a Monday, 00:00 UTC
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const base: RiskEvent = {
  nowMs: T0,
  environment: 'production',
  keyId: 'pk_live_a',
  accountId: 'acc_1',
  ipPrefix: '203.0.113.0/24',
  action: 'order.place',
  outcome: 'allow',
};

function engine(overrides: RiskConfigOverrides = {}) {
  return createRiskEngine(resolveRiskConfig(overrides));
}

/** Changes to the base event; `undefined` removes a field (an event without key or account). */
type Patch = { [K in keyof RiskEvent]?: RiskEvent[K] | undefined };

/** Feeds events and returns every signal raised, in order. */
function feed(e: ReturnType<typeof engine>, events: Iterable<Patch>): Signal[] {
  const out: Signal[] = [];
  for (const patch of events) {
    const merged: Record<string, unknown> = { ...base, ...patch };
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    out.push(...e.observe(merged as unknown as RiskEvent));
  }
  return out;
}

const kinds = (signals: readonly Signal[]) => signals.map((s) => `${s.kind}:${s.subject.type}`);

/** `count` events spread evenly over `[startMs, startMs + spanMs)`. */
function* spread(count: number, startMs: number, spanMs: number, event: Patch = {}) {
  for (let i = 0; i < count; i++)
    yield { ...event, nowMs: startMs + Math.floor((i * spanMs) / count) };
}

describe('new IP prefix', () => {
  it('learns the first prefix silently and stays quiet on it', () => {
    expect(feed(engine(), spread(100, T0, DAY))).toEqual([]);
  });

  it('fires on the first allowed use from another prefix', () => {
    const e = engine();
    feed(e, spread(10, T0, HOUR));
    const signals = feed(e, [{ nowMs: T0 + 2 * HOUR, ipPrefix: '198.51.100.0/24' }]);
    expect(kinds(signals)).toEqual(['new_ip_prefix:key']);
    expect(signals[0]).toMatchObject({ keyId: 'pk_live_a', ipPrefix: '198.51.100.0/24' });
  });

  it('does not learn a prefix from denied requests', () => {
    const e = engine();
    feed(e, [{ nowMs: T0 }]);
    feed(e, [
      { nowMs: T0 + 1, ipPrefix: '198.51.100.0/24', outcome: 'deny', reason: 'SIGNATURE_INVALID' },
    ]);
    expect(kinds(feed(e, [{ nowMs: T0 + 2, ipPrefix: '198.51.100.0/24' }]))).toEqual([
      'new_ip_prefix:key',
    ]);
  });

  it('fires again for a prefix forgotten after forgetAfterMs', () => {
    const e = engine();
    feed(e, [{ nowMs: T0 }, { nowMs: T0 + 1, ipPrefix: '198.51.100.0/24' }]);
    feed(e, spread(40, T0 + DAY, 40 * DAY));
    expect(kinds(feed(e, [{ nowMs: T0 + 41 * DAY, ipPrefix: '198.51.100.0/24' }]))).toEqual([
      'new_ip_prefix:key',
    ]);
  });

  it('remembers at most maxPrefixesPerKey prefixes', () => {
    const e = engine({ environments: { production: { newIpPrefix: { maxPrefixesPerKey: 3 } } } });
    const prefixes = ['10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24', '10.0.4.0/24'];
    feed(
      e,
      prefixes.map((ipPrefix, i) => ({ ipPrefix, nowMs: T0 + i })),
    );
    // The stalest (10.0.1.0/24) was dropped to keep three.
    expect(kinds(feed(e, [{ ipPrefix: '10.0.1.0/24', nowMs: T0 + 10 }]))).toEqual([
      'new_ip_prefix:key',
    ]);
  });
});

describe('failure burst', () => {
  const deny = { outcome: 'deny', reason: 'SIGNATURE_INVALID' } as const;

  it('fires per key at perKey denials inside the window', () => {
    const signals = feed(engine(), spread(20, T0, 30_000, deny));
    expect(kinds(signals)).toEqual(['failure_burst:key']);
    expect(signals[0]).toMatchObject({ observed: 20, threshold: 20 });
  });

  it('fires per IP prefix at perPrefix denials, whatever the key', () => {
    const events = [...spread(50, T0, 30_000, { ...deny, keyId: undefined })].map((event, i) => ({
      ...event,
      ...(i % 2 === 0 ? {} : { keyId: 'pk_live_a' }),
    }));
    const e = engine({ environments: { production: { keySpray: { mode: 'off' } } } });
    expect(kinds(feed(e, events))).toContain('failure_burst:ip_prefix');
  });

  it('stays quiet when the same denials are spread over many windows', () => {
    expect(feed(engine(), spread(40, T0, 10 * MINUTE, deny))).toEqual([]);
  });

  it('does not count ignored reasons such as RATE_LIMITED', () => {
    expect(
      feed(engine(), spread(60, T0, 30_000, { outcome: 'deny', reason: 'RATE_LIMITED' })),
    ).toEqual([]);
  });

  it('does not repeat within its cooldown', () => {
    const signals = feed(engine(), spread(100, T0, 50_000, deny));
    expect(kinds(signals).filter((k) => k.endsWith(':key'))).toEqual(['failure_burst:key']);
  });
});

describe('rate spike', () => {
  /** A steady key: ~100 requests a minute for an hour, with a little jitter. */
  function* steady(startMs: number, minutes: number) {
    for (let m = 0; m < minutes; m++) {
      yield* spread(95 + ((m * 7) % 11), startMs + m * MINUTE, MINUTE);
    }
  }

  it('stays quiet on a steady rate', () => {
    expect(feed(engine(), steady(T0, 120))).toEqual([]);
  });

  it('fires per key and per account when the rate jumps far above the baseline', () => {
    const e = engine();
    feed(e, steady(T0, 60));
    const signals = feed(e, spread(400, T0 + 60 * MINUTE, MINUTE));
    expect(kinds(signals)).toEqual(['rate_spike:key', 'rate_spike:account']);
    expect(signals[0]?.observed).toBeGreaterThan(6);
  });

  it('stays quiet during warm-up', () => {
    const e = engine();
    feed(e, steady(T0, 10));
    expect(feed(e, spread(400, T0 + 10 * MINUTE, MINUTE))).toEqual([]);
  });

  it('stays quiet under the absolute floor however large the z-score', () => {
    const e = engine();
    feed(e, spread(60, T0, 60 * MINUTE)); // one request a minute
    expect(feed(e, spread(100, T0 + 60 * MINUTE, MINUTE))).toEqual([]);
  });

  it('does not count idle minutes into the baseline', () => {
    const e = engine();
    feed(e, steady(T0, 60));
    // Eight idle hours, then the same steady rate resumes.
    expect(feed(e, steady(T0 + 9 * HOUR, 30))).toEqual([]);
  });
});

describe('first sensitive action', () => {
  it('fires for the key and the account on the first withdrawal only', () => {
    const e = engine();
    feed(e, spread(10, T0, HOUR));
    const first = feed(e, [{ nowMs: T0 + HOUR, action: 'withdrawal.create' }]);
    expect(kinds(first)).toEqual(['first_sensitive_action:key', 'first_sensitive_action:account']);
    expect(feed(e, [{ nowMs: T0 + 2 * HOUR, action: 'withdrawal.create' }])).toEqual([]);
  });

  it('fires only for the key when another key of the account already withdrew', () => {
    const e = engine();
    feed(e, [{ action: 'withdrawal.create' }]);
    const signals = feed(e, [{ nowMs: T0 + 1, keyId: 'pk_live_b', action: 'withdrawal.create' }]);
    expect(kinds(signals)).toEqual(['first_sensitive_action:key']);
  });

  it('stays quiet for ordinary actions and for denied withdrawals', () => {
    const e = engine();
    expect(
      feed(e, [
        { action: 'order.place' },
        { action: 'withdrawal.create', outcome: 'deny', reason: 'SCOPE_MISSING' },
      ]),
    ).toEqual([]);
  });
});

describe('unusual hour', () => {
  const enforce = { environments: { production: { unusualHour: { mode: 'enforce' as const } } } };

  /** Office hours: every hour 09:00–16:59 UTC for `days` days. */
  function* officeHours(days: number) {
    for (let d = 0; d < days; d++) {
      for (let h = 9; h < 17; h++) yield* spread(5, T0 + d * DAY + h * HOUR, HOUR);
    }
  }

  it('stays quiet inside the usual hours', () => {
    const e = engine(enforce);
    feed(e, officeHours(14));
    expect(feed(e, spread(5, T0 + 14 * DAY + 10 * HOUR, HOUR))).toEqual([]);
  });

  it('fires on use at 03:00 after enough history', () => {
    const e = engine(enforce);
    feed(e, officeHours(14));
    const signals = feed(e, [{ nowMs: T0 + 14 * DAY + 3 * HOUR }]);
    expect(kinds(signals)).toEqual(['unusual_hour:key']);
  });

  it('stays quiet without enough history', () => {
    const e = engine(enforce);
    feed(e, officeHours(2));
    expect(feed(e, [{ nowMs: T0 + 2 * DAY + 3 * HOUR }])).toEqual([]);
  });
});

describe('key spray', () => {
  it('fires when distinctKeys keys fail from one prefix inside the window', () => {
    const events = ['a', 'b', 'c', 'd', 'e'].map((k, i) => ({
      keyId: `pk_live_${k}`,
      nowMs: T0 + i * 1000,
      outcome: 'deny' as const,
      reason: 'KEY_UNKNOWN',
    }));
    expect(kinds(feed(engine(), events))).toEqual(['key_spray:ip_prefix']);
  });

  it('stays quiet when one key fails repeatedly', () => {
    const deny = { outcome: 'deny', reason: 'TIMESTAMP_OUTSIDE_WINDOW' } as const;
    expect(kinds(feed(engine(), spread(10, T0, 30_000, deny)))).toEqual([]);
  });

  it('stays quiet when the failing keys are spread over many windows', () => {
    const events = ['a', 'b', 'c', 'd', 'e'].map((k, i) => ({
      keyId: `pk_live_${k}`,
      nowMs: T0 + i * 2 * MINUTE,
      outcome: 'deny' as const,
      reason: 'SIGNATURE_INVALID',
    }));
    expect(feed(engine(), events)).toEqual([]);
  });
});

describe('modes and environments', () => {
  it('marks signals of a shadow-mode detector as shadow', () => {
    const e = engine({ environments: { production: { newIpPrefix: { mode: 'shadow' } } } });
    const signals = feed(e, [{}, { nowMs: T0 + 1, ipPrefix: '198.51.100.0/24' }]);
    expect(signals.map((s) => [s.kind, s.shadow])).toEqual([['new_ip_prefix', true]]);
  });

  it('computes nothing for a detector that is off', () => {
    const e = engine({ environments: { production: { newIpPrefix: { mode: 'off' } } } });
    expect(feed(e, [{}, { nowMs: T0 + 1, ipPrefix: '198.51.100.0/24' }])).toEqual([]);
  });

  it('applies each environment its own thresholds', () => {
    const e = engine({ environments: { sandbox: { failureBurst: { perKey: 3 } } } });
    const deny = { outcome: 'deny', reason: 'SIGNATURE_INVALID' } as const;
    expect(feed(e, spread(3, T0, 1000, deny))).toEqual([]);
    const sandbox = feed(
      e,
      spread(3, T0, 1000, { ...deny, environment: 'sandbox', keyId: 'pk_test_a' }),
    );
    expect(kinds(sandbox)).toEqual(['failure_burst:key']);
  });

  it('keeps sandbox and production state apart for the same prefix', () => {
    const e = engine();
    feed(e, [{ keyId: 'k' }]);
    const signals = feed(e, [{ keyId: 'k', environment: 'sandbox', ipPrefix: '198.51.100.0/24' }]);
    expect(signals).toEqual([]);
  });
});

describe('memory bounds', () => {
  it('holds at most maxKeys, maxAccounts and maxPrefixes entries', () => {
    const e = engine({
      memory: { maxKeys: 100, maxAccounts: 50, maxPrefixes: 20, maxCooldowns: 30 },
    });
    for (let i = 0; i < 5000; i++) {
      e.observe({
        ...base,
        nowMs: T0 + i,
        keyId: `pk_live_${i}`,
        accountId: `acc_${i}`,
        ipPrefix: `10.${i >> 8}.${i & 255}.0/24`,
        outcome: i % 2 === 0 ? 'allow' : 'deny',
        reason: 'SIGNATURE_INVALID',
        action: 'withdrawal.create',
      });
    }
    const stats = e.stats();
    expect(stats.keys).toBeLessThanOrEqual(100);
    expect(stats.accounts).toBeLessThanOrEqual(50);
    expect(stats.prefixes).toBeLessThanOrEqual(20);
    expect(stats.cooldowns).toBeLessThanOrEqual(30);
  });

  it('creates no key state for unknown key ids', () => {
    const e = engine();
    feed(
      e,
      spread(100, T0, MINUTE, { outcome: 'deny', reason: 'KEY_UNKNOWN', accountId: undefined }),
    );
    expect(e.stats().keys).toBe(0);
  });
});
