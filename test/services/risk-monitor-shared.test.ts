/**
 * Failure bursts, key sprays and rate spikes across a cluster (docs/observability.md): with
 * shared windows and rates, nodes that each see part of a burst or a spike raise it once between
 * them, where nodes counting alone raise nothing; one node on shared state raises exactly what
 * the engine raises on its own; and when the shared store fails, the node decides on its own
 * windows and rates and says so.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemorySharedRiskWindows } from '../../src/adapters/memory/shared-risk-windows.js';
import { createRedisSharedRiskWindows } from '../../src/adapters/redis/shared-risk-windows.js';
import {
  DEFAULT_RESPONSE_POLICY,
  resolveRiskConfig,
  type RiskEvent,
  type Signal,
} from '../../src/core/risk/index.js';
import type { SharedRiskWindows } from '../../src/core/risk/shared-windows.js';
import {
  createRiskMonitor,
  SHARED_RATE_FLUSH_MS,
  SHARED_WINDOWS_PAUSE_MS,
  type RiskMonitor,
} from '../../src/services/risk-monitor.js';
import { manualTimers } from '../helpers/manual-timers.js';
import { unreachableRedis } from '../helpers/redis.js';
import { allowedEvent, denial, RISK_T0 } from '../helpers/risk-events.js';

const T0 = RISK_T0;
const redis = new Redis({ host: '127.0.0.1', port: 6379 });
afterAll(async () => {
  await redis.quit();
});

const engine = resolveRiskConfig({
  environments: {
    production: {
      failureBurst: { perKey: 10, perPrefix: 40, cooldownMs: 300_000 },
      keySpray: { distinctKeys: 5, cooldownMs: 300_000 },
    },
  },
});

/** A node: a monitor (shared windows or none) that records the signals it raised. */
function node(
  sharedWindows?: SharedRiskWindows,
  onError?: (error: unknown) => void,
  config = engine,
): { monitor: RiskMonitor; signals: Signal[]; fallbacks: () => number } {
  const signals: Signal[] = [];
  let fallbacks = 0;
  const monitor = createRiskMonitor(
    {
      risk: { apply: () => Promise.resolve(undefined as never) },
      onSignal: (signal) => signals.push(signal),
      metrics: {
        recordRiskSignal: () => undefined,
        recordRiskResponse: () => undefined,
        recordRiskWindowsFallback: () => void fallbacks++,
      },
      ...(sharedWindows ? { sharedWindows } : {}),
      ...(onError ? { onSharedWindowsError: onError } : {}),
    },
    // Counts sent with every batch, so that each drain decides as the engine does per event.
    { engine: config, responses: DEFAULT_RESPONSE_POLICY, maxQueued: 10_000, sharedRateFlushMs: 0 },
  );
  return { monitor, signals, fallbacks: () => fallbacks };
}

const failures = (signals: readonly Signal[]) =>
  signals
    .filter((s) => s.kind === 'failure_burst' || s.kind === 'key_spray')
    .map((s) => `${s.kind}:${s.subject.type}:${s.subject.id}`);
const spikes = (signals: readonly Signal[]) =>
  signals
    .filter((s) => s.kind === 'rate_spike')
    .map((s) => `${s.kind}:${s.subject.type}:${s.subject.id}`);

/** `n` allowed requests of pk_live_a (account acc_a) spread over the second starting at `atMs`. */
const allowed = (n: number, atMs: number): RiskEvent[] =>
  Array.from({ length: n }, (_, i) => allowedEvent({ nowMs: atMs + Math.floor((i * 1000) / n) }));

/** Feeds `events` round robin to `nodes`, draining after each, as a load balancer spreads them. */
async function spray(nodes: readonly { monitor: RiskMonitor }[], events: readonly RiskEvent[]) {
  for (let i = 0; i < events.length; i++) {
    const target = nodes[i % nodes.length]!;
    target.monitor.observe(events[i]!);
    await target.monitor.drain();
  }
}

const redisWindows = () =>
  createRedisSharedRiskWindows({ redis }, { keyPrefix: `test:risk:${randomUUID()}:` });

describe('failure signals across nodes', () => {
  it('a burst of bad signatures spread over three nodes is raised once, on Redis', async () => {
    const windows = redisWindows();
    const nodes = [node(windows), node(windows), node(windows)];
    const burst = Array.from({ length: 12 }, (_, i) => denial({ nowMs: T0 + i * 100 }));
    await spray(nodes, burst);
    expect(nodes.flatMap((n) => failures(n.signals))).toEqual(['failure_burst:key:pk_live_a']);
    // Each node counting alone sees four denials of the ten needed: nothing is raised.
    const alone = [node(), node(), node()];
    await spray(alone, burst);
    expect(alone.flatMap((n) => failures(n.signals))).toEqual([]);
  });

  it('a spray of key ids from one prefix over two nodes is raised once, on Redis', async () => {
    const windows = redisWindows();
    const nodes = [node(windows), node(windows)];
    const guesses = Array.from({ length: 6 }, (_, i) =>
      denial({ keyId: `pk_live_guess${i}`, reason: 'KEY_UNKNOWN', nowMs: T0 + i * 1000 }),
    );
    await spray(nodes, guesses);
    const raised = nodes.flatMap((n) => n.signals.filter((s) => s.kind === 'key_spray'));
    expect(raised.map((s) => [s.subject.id, s.observed, s.atMs - T0])).toEqual([
      ['203.0.113.0/24', 5, 4000],
    ]);
    const alone = [node(), node()];
    await spray(alone, guesses);
    expect(alone.flatMap((n) => failures(n.signals))).toEqual([]);
  });

  it('a rate spike spread over three nodes is raised once, on Redis', async () => {
    const config = resolveRiskConfig({
      environments: {
        production: {
          rateSpike: {
            intervalMs: 1_000,
            warmupIntervals: 5,
            zThreshold: 6,
            minRequestsPerInterval: 30,
            cooldownMs: 300_000,
          },
        },
      },
    });
    const windows = redisWindows();
    const nodes = [0, 1, 2].map(() => node(windows, undefined, config));
    const alone = [0, 1, 2].map(() => node(undefined, undefined, config));
    // Five quiet seconds of 6 requests (2 per node), then 45 in one second (15 per node):
    // (45 − 6) / √6 ≈ 15.9 for the cluster; each node alone stays under the floor of 30.
    const traffic = [0, 1, 2, 3, 4].flatMap((s) => allowed(6, T0 + s * 1000));
    traffic.push(...allowed(45, T0 + 5000));
    await spray(nodes, traffic);
    const raised = nodes.flatMap((n) => n.signals.filter((s) => s.kind === 'rate_spike'));
    expect(raised.map((s) => `${s.subject.type}:${s.subject.id}`).sort()).toEqual([
      'account:acc_a',
      'key:pk_live_a',
    ]);
    // Raised at the first request that took the cluster's second over the floor of 30.
    expect(raised.map((s) => [s.observed, s.threshold])).toEqual([
      [(30 - 6) / Math.sqrt(6), 6],
      [(30 - 6) / Math.sqrt(6), 6],
    ]);
    await spray(alone, traffic);
    expect(alone.flatMap((n) => spikes(n.signals))).toEqual([]);
  });

  // Cooldowns: the engine's and the memory windows' run on the events' time, Redis's `SET PX`
  // on Redis's clock, which barely moves during a run. Against Redis the sandbox cooldown is
  // longer than any run's events span (80 × 6 s at most), so it ends on neither clock.
  it.each([
    ['memory', () => createMemorySharedRiskWindows(), 400, 8_000],
    ['redis', redisWindows, 40, 600_000],
  ] as const)(
    'one node on %s windows and rates raises what its engine would raise alone',
    async (_name, make, runs, sandboxCooldownMs) => {
      const event = fc.record({
        // Round steps too, so that events land exactly on window and bucket edges.
        deltaMs: fc.oneof(
          fc.integer({ min: 0, max: 2_500 }),
          fc.constantFrom(0, 1_000, 3_000, 6_000),
        ),
        keyId: fc.constantFrom('pk_live_a', 'pk_live_b', 'pk_live_c', 'pk_live_d', undefined),
        accountId: fc.constantFrom('acc_a', 'acc_b', undefined),
        prefix: fc.constantFrom('203.0.113.0/24', '198.51.100.0/24'),
        environment: fc.constantFrom('production' as const, 'sandbox' as const),
        reason: fc.constantFrom(
          'SIGNATURE_INVALID',
          'KEY_UNKNOWN',
          'NONCE_REPLAYED',
          'RATE_LIMITED',
          undefined,
        ),
      });
      const config = resolveRiskConfig({
        environments: {
          production: {
            failureBurst: { perKey: 4, perPrefix: 7, windowMs: 12_000, cooldownMs: 0 },
            keySpray: { distinctKeys: 3, windowMs: 12_000, cooldownMs: 0 },
            // Short intervals and a low bar, so that random streams spike often.
            rateSpike: {
              intervalMs: 2_000,
              lambda: 0.3,
              warmupIntervals: 2,
              zThreshold: 0.5,
              minRequestsPerInterval: 2,
              cooldownMs: 0,
            },
          },
          // Production raises at every denial over a threshold, so every count is compared; the
          // sandbox keeps a cooldown (and shadow mode, and no spray).
          sandbox: {
            failureBurst: {
              mode: 'shadow',
              perKey: 3,
              windowMs: 12_000,
              cooldownMs: sandboxCooldownMs,
            },
            keySpray: { mode: 'off' },
            rateSpike: {
              mode: 'shadow',
              intervalMs: 3_000,
              warmupIntervals: 1,
              zThreshold: 0.2,
              minRequestsPerInterval: 2,
              cooldownMs: sandboxCooldownMs,
            },
          },
        },
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(event, { minLength: 10, maxLength: 80, size: 'max' }),
          async (events) => {
            const shared = node(make(), undefined, config);
            const alone = node(undefined, undefined, config);
            let nowMs = T0;
            const stream = events.map((e) => {
              nowMs += e.deltaMs;
              const base: RiskEvent = {
                nowMs,
                environment: e.environment,
                ipPrefix: e.prefix,
                action: 'order.place',
                outcome: e.reason === undefined ? 'allow' : 'deny',
                ...(e.keyId !== undefined ? { keyId: e.keyId } : {}),
                ...(e.accountId !== undefined ? { accountId: e.accountId } : {}),
                ...(e.reason !== undefined ? { reason: e.reason } : {}),
              };
              return base;
            });
            await spray([shared], stream);
            await spray([alone], stream);
            // Per kind: within one event the engine and the monitor raise in different orders.
            const shape = (signals: readonly Signal[], kinds: readonly Signal['kind'][]) =>
              signals.filter((s) => kinds.includes(s.kind)).map((s) => ({ ...s }));
            for (const kinds of [['failure_burst', 'key_spray'], ['rate_spike']] as const) {
              expect(shape(shared.signals, kinds)).toEqual(shape(alone.signals, kinds));
            }
          },
        ),
        { numRuns: runs },
      );
    },
  );
});

describe('request counts for the shared rates', () => {
  /** A monitor with the default send interval and manual timers, over counted memory rates. */
  function batchingNode() {
    const t = manualTimers();
    const memory = createMemorySharedRiskWindows();
    const sent: string[][] = [];
    const signals: Signal[] = [];
    const monitor = createRiskMonitor(
      {
        risk: { apply: () => Promise.resolve(undefined as never) },
        onSignal: (signal) => signals.push(signal),
        timers: t.timers,
        sharedWindows: {
          add: (contributions) => {
            sent.push(contributions.map((c) => `${c.id}=${[...c.counts.values()].join('+')}`));
            return memory.add(contributions);
          },
        },
      },
      {
        engine: resolveRiskConfig({
          environments: {
            production: {
              rateSpike: { intervalMs: 1_000, warmupIntervals: 3, minRequestsPerInterval: 20 },
            },
          },
        }),
        responses: DEFAULT_RESPONSE_POLICY,
        maxQueued: 10_000,
      },
    );
    const feed = async (events: readonly RiskEvent[]) => {
      for (const event of events) {
        monitor.observe(event);
        await monitor.drain();
      }
    };
    return { t, monitor, sent, signals, feed };
  }

  it(`are sent every ${SHARED_RATE_FLUSH_MS} ms of traffic, not with every batch`, async () => {
    const n = batchingNode();
    // Ten batches within 90 ms: nothing sent yet.
    await n.feed(Array.from({ length: 10 }, (_, i) => allowedEvent({ nowMs: T0 + i * 10 })));
    expect(n.sent).toEqual([]);
    // The batch 250 ms after the first waiting count sends all eleven, merged per subject.
    await n.feed([allowedEvent({ nowMs: T0 + SHARED_RATE_FLUSH_MS })]);
    expect(n.sent).toEqual([
      ['rate_spike:production:key:pk_live_a=11', 'rate_spike:production:account:acc_a=11'],
    ]);
  });

  it('are sent after a quiet spell, and when the monitor closes', async () => {
    const n = batchingNode();
    await n.feed([allowedEvent({ nowMs: T0 })]);
    expect(n.sent).toEqual([]);
    expect(n.t.pendingTimeouts()).toBe(1); // the quiet-spell timer
    n.t.runTimeouts();
    await n.monitor.drain();
    expect(n.sent).toHaveLength(1);
    await n.feed([allowedEvent({ nowMs: T0 + 5 })]);
    await n.monitor.close();
    expect(n.sent).toHaveLength(2);
  });

  it('still raise a spike, once, at the send after it', async () => {
    const n = batchingNode();
    const quiet = [0, 1, 2].flatMap((s) => allowed(4, T0 + s * 1000));
    await n.feed([...quiet, ...allowed(40, T0 + 3000)]);
    await n.monitor.close();
    expect(spikes(n.signals)).toEqual(['rate_spike:key:pk_live_a', 'rate_spike:account:acc_a']);
    // A handful of sends for 52 batches.
    expect(n.sent.length).toBeLessThanOrEqual(16);
  });
});

describe('when the shared windows fail', () => {
  it('the node decides on its own windows, reports it, and asks again after a pause', async () => {
    let asked = 0;
    let failing = true;
    const memory = createMemorySharedRiskWindows();
    const windows: SharedRiskWindows = {
      add: (contributions) => {
        asked++;
        return failing ? Promise.reject(new Error('redis down')) : memory.add(contributions);
      },
    };
    const errors: unknown[] = [];
    const n = node(windows, (error) => errors.push(error));
    // Ten denials on this node alone: its own windows reach the key's threshold.
    await spray(
      [n],
      Array.from({ length: 10 }, (_, i) => denial({ nowMs: T0 + i })),
    );
    expect(failures(n.signals)).toEqual(['failure_burst:key:pk_live_a']);
    expect(asked).toBe(1); // then paused: the other nine batches were decided without asking
    expect(errors).toHaveLength(1);
    expect(n.fallbacks()).toBe(10);
    failing = false;
    await spray([n], [denial({ keyId: 'pk_live_b', nowMs: T0 + SHARED_WINDOWS_PAUSE_MS + 10 })]);
    expect(asked).toBe(2);
    expect(n.fallbacks()).toBe(10);
  });

  it("the node's own rate spikes are raised only when the shared store fails", async () => {
    const config = resolveRiskConfig({
      environments: {
        production: {
          rateSpike: { intervalMs: 1_000, warmupIntervals: 3, minRequestsPerInterval: 20 },
        },
      },
    });
    const traffic = [0, 1, 2].flatMap((s) => allowed(4, T0 + s * 1000));
    traffic.push(...allowed(40, T0 + 3000));
    // Healthy store: one raise per subject, from the shared state, not twice.
    const healthy = node(createMemorySharedRiskWindows(), undefined, config);
    await spray([healthy], traffic);
    expect(spikes(healthy.signals)).toEqual([
      'rate_spike:key:pk_live_a',
      'rate_spike:account:acc_a',
    ]);
    // Failing store: the node's own engine decides, and says so.
    const errors: unknown[] = [];
    const failing: SharedRiskWindows = { add: () => Promise.reject(new Error('redis down')) };
    const fallback = node(failing, (error) => errors.push(error), config);
    await spray([fallback], traffic);
    expect(spikes(fallback.signals)).toEqual([
      'rate_spike:key:pk_live_a',
      'rate_spike:account:acc_a',
    ]);
    expect(errors.length).toBeGreaterThan(0);
    expect(fallback.fallbacks()).toBe(traffic.length);
  });

  it('a Redis that cannot be reached does not stop the node from raising', async () => {
    const down = unreachableRedis();
    const errors: unknown[] = [];
    const n = node(
      createRedisSharedRiskWindows({ redis: down }, { keyPrefix: 'test:risk:down:' }),
      (error) => errors.push(error),
    );
    await spray(
      [n],
      Array.from({ length: 10 }, (_, i) => denial({ nowMs: T0 + i })),
    );
    expect(failures(n.signals)).toEqual(['failure_burst:key:pk_live_a']);
    expect(errors.length).toBeGreaterThan(0);
    down.disconnect();
  });
});
