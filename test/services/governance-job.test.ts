/** The governance job on injected timers and clock, with in-memory key and risk doubles. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_GOVERNANCE_POLICIES } from '../../src/core/governance/index.js';
import type { ApiKey } from '../../src/core/keys/model.js';
import { createGovernanceJob } from '../../src/services/governance-job.js';
import type { Timers } from '../../src/services/traffic-log.js';
import { createManualClock } from '../helpers/manual-clock.js';
import { countTurns } from '../helpers/event-loop-turns.js';

const DAY = 86_400_000;

function fakeTimers() {
  const intervals = new Map<number, { fn: () => void; ms: number }>();
  let next = 1;
  const timers: Timers = {
    setInterval: (fn, ms) => {
      intervals.set(next, { fn, ms });
      return next++;
    },
    clearInterval: (h) => void intervals.delete(h as number),
    setTimeout: () => 0,
    clearTimeout: () => undefined,
  };
  return { timers, fire: () => intervals.forEach((t) => t.fn()), intervals };
}

function setup(enabled = true, lease?: (ttlMs: number) => Promise<boolean>) {
  const clock = createManualClock(1_767_225_600_000);
  const key: ApiKey = {
    id: 'pk_live_old000000000001',
    accountId: 'acc_1',
    label: '',
    environment: 'production',
    scheme: 'hmac',
    scopes: ['read', 'trade'],
    ipAllowlist: ['192.0.2.0/24'],
    status: 'active',
    createdAt: clock.now(),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    epoch: 1,
    secretVersion: 1,
  } as unknown as ApiKey;
  const updates: { id: string; scopes?: readonly string[] }[] = [];
  const disabled: string[] = [];
  const { timers, fire, intervals } = fakeTimers();
  const job = createGovernanceJob(
    {
      keys: {
        listKeys: () => Promise.resolve([{ ...key, state: 'active' as const }]),
        updateKey: (id, patch) => {
          updates.push({ id, ...(patch.scopes ? { scopes: patch.scopes } : {}) });
          return Promise.resolve({ ...key, state: 'active' as const });
        },
      },
      risk: {
        disableByGovernance: (id) => {
          disabled.push(id);
          return Promise.resolve(true);
        },
      },
      clock,
      timers,
      ...(lease !== undefined ? { lease } : {}),
    },
    { enabled, intervalMs: 3_600_000, policies: DEFAULT_GOVERNANCE_POLICIES },
  );
  return { job, clock, updates, disabled, fire, intervals };
}

describe('governance job', () => {
  it('runs on its interval once started and applies due actions (dormant → disable)', async () => {
    const s = setup();
    s.job.start();
    expect([...s.intervals.values()].map((t) => t.ms)).toEqual([3_600_000]);
    s.clock.advance(90 * DAY);
    s.fire();
    await s.job.run();
    expect(s.disabled).toEqual(['pk_live_old000000000001']);
  });

  it('does nothing before a deadline', async () => {
    const s = setup();
    s.clock.advance(30 * DAY);
    expect(await s.job.run()).toEqual([]);
    expect(s.updates).toEqual([]);
  });

  it('steps a key down to read at its maximum age', async () => {
    const s = setup();
    s.clock.advance(365 * DAY);
    await s.job.run();
    expect(s.updates).toEqual([{ id: 'pk_live_old000000000001', scopes: ['read'] }]);
  });

  it('starts no timer when disabled', () => {
    const s = setup(false);
    s.job.start();
    expect(s.intervals.size).toBe(0);
  });

  it('in a cluster, a tick runs only on the node that got the lease (and asks for less than the interval)', async () => {
    const asked: number[] = [];
    let grant = false;
    const s = setup(true, (ttlMs) => {
      asked.push(ttlMs);
      return Promise.resolve(grant);
    });
    s.job.start();
    s.clock.advance(90 * DAY);
    s.fire();
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.disabled).toEqual([]);
    grant = true;
    s.fire();
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(s.disabled).toEqual(['pk_live_old000000000001']);
    expect(asked).toEqual([3_599_000, 3_599_000]);
  });

  it('skips the tick when the lease cannot be asked', async () => {
    const s = setup(true, () => Promise.reject(new Error('redis down')));
    s.job.start();
    s.clock.advance(90 * DAY);
    s.fire();
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.disabled).toEqual([]);
  });

  it('walks every key once, a page at a time, with an event-loop turn between pages', async () => {
    const clock = createManualClock(1_767_225_600_000);
    const createdAt = clock.now();
    const ids = Array.from({ length: 2_500 }, (_, i) => `pk_live_${String(i).padStart(20, '0')}`);
    // As the embedded store answers: each page at once, in id order after the cursor.
    const turns = countTurns();
    const pagesAt: number[] = [];
    const keyOf = (id: string) =>
      ({
        id,
        accountId: 'acc_1',
        environment: 'production',
        scopes: ['read'],
        ipAllowlist: ['192.0.2.0/24'],
        status: 'active',
        state: 'active',
        createdAt,
        expiresAt: null,
        lastUsedAt: null,
      }) as unknown as ApiKey & { state: 'active' };
    const disabled: string[] = [];
    const job = createGovernanceJob(
      {
        keys: {
          listKeys: (q) => {
            pagesAt.push(turns.count());
            const from = q.after === undefined ? 0 : ids.indexOf(q.after) + 1;
            return Promise.resolve(ids.slice(from, from + (q.limit ?? 100)).map(keyOf));
          },
          updateKey: () => Promise.reject(new Error('not expected')),
        },
        risk: {
          disableByGovernance: (id) => {
            disabled.push(id);
            return Promise.resolve(true);
          },
        },
        clock,
        timers: fakeTimers().timers,
      },
      { enabled: true, intervalMs: 3_600_000, policies: DEFAULT_GOVERNANCE_POLICIES },
    );
    clock.advance(90 * DAY); // every key is dormant: each is disabled once
    await job.run();
    const report = await job.report();
    turns.stop();
    expect(disabled).toEqual(ids);
    expect(report.rows.map((row) => row.keyId).sort()).toEqual(ids); // each key once, dormant
    expect(pagesAt).toHaveLength(6); // three pages per pass
    for (const pass of [pagesAt.slice(0, 3), pagesAt.slice(3)]) {
      expect(pass[1]).toBeGreaterThan(pass[0] ?? Infinity);
      expect(pass[2]).toBeGreaterThan(pass[1] ?? Infinity);
    }
  });
});
