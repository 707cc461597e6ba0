/**
 * First sightings are durable and shared (docs/observability.md): `first_sensitive_action` and
 * `new_ip_prefix` are decided on the control store's sightings, so a restarted process (a new
 * monitor on the same SQLite file) does not raise an old first use again nor learn an attacker's
 * prefix silently, and of two processes seeing one first use, one raises it. Real SQLite files;
 * each monitor has its own connection, as two processes would.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createSqliteControlStore,
  type SqliteControlStore,
} from '../../src/adapters/sqlite/sqlite-control-store.js';
import {
  DEFAULT_RESPONSE_POLICY,
  DEFAULT_RISK_CONFIG,
  type RiskEvent,
  type Signal,
} from '../../src/core/risk/index.js';
import {
  createRiskMonitor,
  SIGHTING_PAUSE_MS,
  SIGHTING_REFRESH_MS,
  type RiskMonitor,
} from '../../src/services/risk-monitor.js';
import { createMemoryRiskStore } from '../../src/services/risk-store.js';
import { createManualClock } from '../helpers/manual-clock.js';
import { createTempDir } from '../helpers/temp-dir.js';

const T0 = 1_767_225_600_000;
const dir = createTempDir();
const stores: SqliteControlStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** A "process": its own connection to `file`, and a monitor that records the signals raised. */
function processOn(file: string, durable = true): { monitor: RiskMonitor; signals: Signal[] } {
  const store = createSqliteControlStore({
    path: join(dir.path, file),
    clock: createManualClock(T0),
  });
  stores.push(store);
  const signals: Signal[] = [];
  const monitor = createRiskMonitor(
    {
      risk: { apply: () => Promise.resolve(undefined as never) },
      onSignal: (signal) => signals.push(signal),
      ...(durable ? { sightings: store.riskStore() } : {}),
    },
    { engine: DEFAULT_RISK_CONFIG, responses: DEFAULT_RESPONSE_POLICY, maxQueued: 1000 },
  );
  return { monitor, signals };
}

const allowed = (overrides: Partial<RiskEvent> = {}): RiskEvent => ({
  nowMs: T0,
  environment: 'production',
  keyId: 'pk_live_a',
  accountId: 'acc_a',
  ipPrefix: '198.51.100.0/24',
  action: 'balance.read',
  outcome: 'allow',
  ...overrides,
});
const kinds = (signals: readonly Signal[]) => signals.map((s) => `${s.kind}:${s.subject.type}`);

describe('durable first sightings', () => {
  it('a restart does not make the key’s withdrawal a first use again', async () => {
    const before = processOn('restart.db');
    before.monitor.observe(allowed({ action: 'withdrawal.create' }));
    await before.monitor.drain();
    expect(kinds(before.signals)).toEqual([
      'first_sensitive_action:key',
      'first_sensitive_action:account',
    ]);
    const after = processOn('restart.db');
    after.monitor.observe(allowed({ action: 'withdrawal.create', nowMs: T0 + 60_000 }));
    await after.monitor.drain();
    expect(after.signals).toEqual([]);
  });

  it('after a restart, the first request from another prefix is a new prefix', async () => {
    const before = processOn('prefix.db');
    before.monitor.observe(allowed());
    await before.monitor.drain();
    expect(before.signals).toEqual([]); // the key's first prefix is learned silently
    const after = processOn('prefix.db');
    after.monitor.observe(allowed({ ipPrefix: '203.0.113.0/24', nowMs: T0 + 60_000 }));
    after.monitor.observe(allowed({ nowMs: T0 + 120_000 }));
    await after.monitor.drain();
    expect(after.signals.map((s) => [s.kind, s.ipPrefix, s.observed])).toEqual([
      ['new_ip_prefix', '203.0.113.0/24', 1],
    ]);
  });

  it('a prefix unseen for 30 days is new again when the key came back from it', async () => {
    const node = processOn('forget.db');
    node.monitor.observe(allowed());
    node.monitor.observe(allowed({ ipPrefix: '203.0.113.0/24', nowMs: T0 + 86_400_000 }));
    node.monitor.observe(allowed({ ipPrefix: '203.0.113.0/24', nowMs: T0 + 40 * 86_400_000 }));
    node.monitor.observe(allowed({ nowMs: T0 + 41 * 86_400_000 }));
    await node.monitor.drain();
    expect(node.signals.map((s) => [s.ipPrefix, s.atMs - T0])).toEqual([
      ['203.0.113.0/24', 86_400_000],
      ['198.51.100.0/24', 41 * 86_400_000],
    ]);
  });

  it('two processes on one store raise a first use once between them', async () => {
    const a = processOn('shared.db');
    const b = processOn('shared.db');
    a.monitor.observe(allowed({ action: 'withdrawal.create', accountId: 'acc_b' }));
    b.monitor.observe(allowed({ action: 'withdrawal.create', accountId: 'acc_b' }));
    await Promise.all([a.monitor.drain(), b.monitor.drain()]);
    expect(kinds([...a.signals, ...b.signals]).sort()).toEqual([
      'first_sensitive_action:account',
      'first_sensitive_action:key',
    ]);
  });

  it('denied requests teach nothing; an off signal asks the store nothing', async () => {
    const store = createMemoryRiskStore();
    let asked = 0;
    const signals: Signal[] = [];
    const monitor = createRiskMonitor(
      {
        risk: { apply: () => Promise.resolve(undefined as never) },
        onSignal: (signal) => signals.push(signal),
        sightings: { sight: (s, rule) => (asked++, store.sight(s, rule)) },
      },
      {
        engine: {
          ...DEFAULT_RISK_CONFIG,
          environments: {
            ...DEFAULT_RISK_CONFIG.environments,
            production: {
              ...DEFAULT_RISK_CONFIG.environments.production,
              newIpPrefix: {
                ...DEFAULT_RISK_CONFIG.environments.production.newIpPrefix,
                mode: 'off',
              },
            },
          },
        },
        responses: DEFAULT_RESPONSE_POLICY,
        maxQueued: 1000,
      },
    );
    monitor.observe(
      allowed({ outcome: 'deny', reason: 'SCOPE_MISSING', action: 'withdrawal.create' }),
    );
    monitor.observe(allowed({ ipPrefix: '203.0.113.0/24' }));
    await monitor.drain();
    expect(asked).toBe(0);
    expect(signals).toEqual([]);
  });

  it('asks the store once per key and prefix per refresh time, whatever the order of prefixes', async () => {
    const store = createMemoryRiskStore();
    const asked: string[] = [];
    const monitor = createRiskMonitor(
      {
        risk: { apply: () => Promise.resolve(undefined as never) },
        sightings: {
          sight: (s, rule) => {
            asked.push(`${s.subject.id} ${s.value} +${s.atMs - T0}`);
            return store.sight(s, rule);
          },
        },
      },
      { engine: DEFAULT_RISK_CONFIG, responses: DEFAULT_RESPONSE_POLICY, maxQueued: 1000 },
    );
    const a = '198.51.100.0/24';
    const b = '203.0.113.0/24';
    for (const [ipPrefix, nowMs] of [
      [a, T0],
      [a, T0 + 1],
      [b, T0 + 2], // another prefix: asked
      [a, T0 + 3], // back to the first, recorded a moment ago: not asked
      [b, T0 + 4],
      [a, T0 + SIGHTING_REFRESH_MS - 1],
      [a, T0 + SIGHTING_REFRESH_MS], // an hour on: the store's last-seen time is refreshed
      [a, T0 + SIGHTING_REFRESH_MS + 1],
    ] as const) {
      monitor.observe(allowed({ ipPrefix, nowMs }));
    }
    monitor.observe(allowed({ keyId: 'pk_live_b', nowMs: T0 + 5 })); // another key: asked
    await monitor.drain();
    expect(asked).toEqual([
      `pk_live_a ${a} +0`,
      `pk_live_a ${b} +2`,
      `pk_live_a ${a} +${SIGHTING_REFRESH_MS}`,
      `pk_live_b ${a} +5`,
    ]);
  });

  it('a failing store is skipped for a while; the engine’s own signals keep flowing', async () => {
    const store = createMemoryRiskStore();
    const asked: number[] = [];
    let down = true;
    const errors: unknown[] = [];
    const signals: Signal[] = [];
    const monitor = createRiskMonitor(
      {
        risk: { apply: () => Promise.resolve(undefined as never) },
        onSignal: (signal) => signals.push(signal),
        onError: (error) => errors.push(error),
        sightings: {
          sight: (s, rule) => {
            asked.push(s.atMs - T0);
            return down ? Promise.reject(new Error('store down')) : store.sight(s, rule);
          },
        },
      },
      { engine: DEFAULT_RISK_CONFIG, responses: DEFAULT_RESPONSE_POLICY, maxQueued: 1000 },
    );
    monitor.observe(allowed({ action: 'withdrawal.create' }));
    monitor.observe(allowed({ action: 'withdrawal.create', nowMs: T0 + 1000 }));
    // 20 denied signatures in a minute: the engine raises failure_burst without the store.
    for (let i = 0; i < 20; i++) {
      monitor.observe(
        allowed({ outcome: 'deny', reason: 'SIGNATURE_INVALID', nowMs: T0 + 2000 + i }),
      );
    }
    await monitor.drain();
    expect(asked).toEqual([0]);
    expect(errors).toHaveLength(1);
    expect(signals.map((s) => `${s.kind}:${s.subject.type}`)).toContain('failure_burst:key');
    down = false;
    monitor.observe(allowed({ action: 'withdrawal.create', nowMs: T0 + SIGHTING_PAUSE_MS }));
    await monitor.drain();
    expect(asked.slice(1)).toEqual([SIGHTING_PAUSE_MS, SIGHTING_PAUSE_MS, SIGHTING_PAUSE_MS]);
    expect(signals.filter((s) => s.kind === 'first_sensitive_action')).toHaveLength(2);
  });
});
