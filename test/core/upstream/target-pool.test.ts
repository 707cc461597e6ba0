import { describe, expect, it } from 'vitest';
import { createTargetPool, type TargetSpec } from '../../../src/core/upstream/target-pool.js';
import { createManualClock } from '../../helpers/manual-clock.js';

const A: TargetSpec = { url: 'http://a:1', role: 'primary' };
const B: TargetSpec = { url: 'http://b:1', role: 'primary' };
const BACKUP: TargetSpec = { url: 'http://c:1', role: 'backup' };
const BACKUP2: TargetSpec = { url: 'http://d:1', role: 'backup' };

function pool(targets: TargetSpec[], consecutiveFailures = 3, cooldownMs = 10_000) {
  const clock = createManualClock();
  const p = createTargetPool(targets, {
    clock,
    ejection: { consecutiveFailures, cooldownMs },
    health: { unhealthyThreshold: 2, healthyThreshold: 1 },
  });
  return { clock, pool: p };
}

describe('target selection', () => {
  it('primaries first, then backups', () => {
    const { pool: p } = pool([BACKUP, A]);
    expect(p.candidates()).toEqual([1, 0]);
  });

  it('primaries take turns (round-robin); backups stay behind them', () => {
    const { pool: p } = pool([A, B, BACKUP]);
    expect(p.candidates()).toEqual([0, 1, 2]);
    expect(p.candidates()).toEqual([1, 0, 2]);
    expect(p.candidates()).toEqual([0, 1, 2]);
  });

  it('backups take turns too once every primary is out', () => {
    const { pool: p } = pool([A, BACKUP, BACKUP2], 1);
    p.recordFailure(0);
    expect(p.candidates()).toEqual([1, 2]);
    expect(p.candidates()).toEqual([2, 1]);
  });

  it('no available target → no candidate', () => {
    const { pool: p } = pool([A, BACKUP], 1);
    p.recordFailure(0);
    p.recordFailure(1);
    expect(p.candidates()).toEqual([]);
  });
});

describe('passive ejection', () => {
  it('is ejected only after N consecutive failures', () => {
    const { pool: p } = pool([A, BACKUP], 3);
    p.recordFailure(0);
    p.recordFailure(0);
    expect(p.isAvailable(0)).toBe(true);
    p.recordFailure(0);
    expect(p.isAvailable(0)).toBe(false);
    expect(p.candidates()).toEqual([1]);
  });

  it('a success in between resets the count', () => {
    const { pool: p } = pool([A], 3);
    p.recordFailure(0);
    p.recordFailure(0);
    p.recordSuccess(0);
    p.recordFailure(0);
    p.recordFailure(0);
    expect(p.isAvailable(0)).toBe(true);
  });

  it('comes back after the cooldown, not before', () => {
    const { pool: p, clock } = pool([A, BACKUP], 1, 10_000);
    p.recordFailure(0);
    clock.advance(9_999);
    expect(p.isAvailable(0)).toBe(false);
    clock.advance(1);
    expect(p.isAvailable(0)).toBe(true);
    expect(p.candidates()).toEqual([0, 1]);
  });

  it('after the cooldown one more failure ejects again at once; one success restores it', () => {
    const { pool: p, clock } = pool([A, BACKUP], 3, 1_000);
    for (let i = 0; i < 3; i += 1) p.recordFailure(0);
    clock.advance(1_000);
    p.recordFailure(0);
    expect(p.isAvailable(0)).toBe(false);
    expect(p.status()[0]?.ejectedUntilMs).toBe(clock.now() + 1_000);
    clock.advance(1_000);
    p.recordSuccess(0);
    p.recordFailure(0);
    expect(p.isAvailable(0)).toBe(true);
    expect(p.status()[0]?.consecutiveFailures).toBe(1);
  });
});

describe('active health checks', () => {
  it('down after unhealthyThreshold failed checks in a row, up after one passed', () => {
    const { pool: p } = pool([A, BACKUP]);
    p.recordHealthCheck(0, false);
    expect(p.isAvailable(0)).toBe(true);
    p.recordHealthCheck(0, false);
    expect(p.isAvailable(0)).toBe(false);
    expect(p.status()[0]).toMatchObject({ healthy: false, available: false });
    p.recordHealthCheck(0, true);
    expect(p.isAvailable(0)).toBe(true);
  });

  it('a pass between failures restarts the failure streak', () => {
    const { pool: p } = pool([A]);
    p.recordHealthCheck(0, false);
    p.recordHealthCheck(0, true);
    p.recordHealthCheck(0, false);
    expect(p.isAvailable(0)).toBe(true);
  });

  it('a passing check does not end a passive ejection (the cooldown does)', () => {
    const { pool: p, clock } = pool([A, BACKUP], 1, 5_000);
    p.recordFailure(0);
    p.recordHealthCheck(0, true);
    expect(p.isAvailable(0)).toBe(false);
    clock.advance(5_000);
    expect(p.isAvailable(0)).toBe(true);
  });

  it('a target marked down stays out however much time passes', () => {
    const { pool: p, clock } = pool([A, BACKUP], 1, 1_000);
    p.recordHealthCheck(0, false);
    p.recordHealthCheck(0, false);
    clock.advance(5_000);
    expect(p.candidates()).toEqual([1]);
  });
});

it('an unknown index is a programming error', () => {
  const { pool: p } = pool([A]);
  expect(() => p.recordFailure(3)).toThrow(RangeError);
});
