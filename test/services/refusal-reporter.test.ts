/**
 * The refusal reporter (src/services/refusal-reporter.ts) over the in-memory shared windows, with
 * a manual clock and manual timers: refusals noted on two nodes are counted together and the
 * offence is decided once; counts wait for one report per environment; a failing store is left
 * alone for a while and its refusals are dropped (the nodes count their own); the wait is bounded.
 */
import { describe, expect, it } from 'vitest';
import { createMemorySharedRefusals } from '../../src/adapters/memory/shared-refusals.js';
import type { SharedRefusals } from '../../src/core/limits/bans.js';
import {
  createRefusalReporter,
  MAX_WAITING_PREFIXES,
  REFUSAL_PAUSE_MS,
  REFUSAL_REPORT_MS,
} from '../../src/services/refusal-reporter.js';
import { createManualClock } from '../helpers/manual-clock.js';
import { manualTimers } from '../helpers/manual-timers.js';

const POLICY = { refusalThreshold: 3, refusalWindowMs: 60_000 };
const P = '198.51.100.7';

function node(shared: SharedRefusals, clock = createManualClock()) {
  const timers = manualTimers();
  const offences: string[] = [];
  const errors: unknown[] = [];
  const reporter = createRefusalReporter({
    shared,
    clock,
    timers: timers.timers,
    onOffence: (environment, prefix) => offences.push(`${environment} ${prefix}`),
    onError: (error) => errors.push(error),
  });
  return { reporter, timers, offences, errors, clock };
}

describe('refusal reporter', () => {
  it('refusals noted on two nodes are counted together: one of them is told the offence', async () => {
    const shared = createMemorySharedRefusals();
    const a = node(shared);
    const b = node(shared);
    // Two refusals on each node: neither reaches the threshold of 3 alone.
    a.reporter.note('sandbox', P, POLICY);
    a.reporter.note('sandbox', P, POLICY);
    b.reporter.note('sandbox', P, POLICY);
    b.reporter.note('sandbox', P, POLICY);
    await a.reporter.flush();
    await b.reporter.flush();
    expect([...a.offences, ...b.offences]).toEqual(['sandbox 198.51.100.7']);
    expect(b.offences).toHaveLength(1);
  });

  it('waits REFUSAL_REPORT_MS after the first refusal and sends each prefix once, summed', async () => {
    const calls: [string, Record<string, number>][] = [];
    const shared: SharedRefusals = {
      add: (environment, counts) => {
        calls.push([environment, Object.fromEntries(counts)]);
        return Promise.resolve([]);
      },
    };
    const { reporter, timers } = node(shared);
    for (let i = 0; i < 4; i++) reporter.note('sandbox', P, POLICY);
    reporter.note('sandbox', '203.0.113.9', POLICY);
    reporter.note('production', P, POLICY);
    expect(calls).toEqual([]);
    expect(timers.pendingTimeouts()).toBe(1);
    timers.runTimeouts();
    await reporter.flush();
    expect(calls).toEqual([
      ['sandbox', { [P]: 4, '203.0.113.9': 1 }],
      ['production', { [P]: 1 }],
    ]);
    expect(reporter.stats()).toEqual({ reported: 3, dropped: 0, offences: 0 });
    expect(REFUSAL_REPORT_MS).toBe(100);
  });

  it('a failing store is reported once, left alone for REFUSAL_PAUSE_MS, then asked again', async () => {
    let failing = true;
    let asked = 0;
    const shared: SharedRefusals = {
      add: () => {
        asked += 1;
        return failing ? Promise.reject(new Error('redis down')) : Promise.resolve([P]);
      },
    };
    const { reporter, errors, offences, clock } = node(shared);
    reporter.note('sandbox', P, POLICY);
    await reporter.flush();
    expect({ asked, errors: errors.length }).toEqual({ asked: 1, errors: 1 });
    // Within the pause nothing is sent: the node's own count is all there is.
    clock.advance(REFUSAL_PAUSE_MS - 1);
    reporter.note('sandbox', P, POLICY);
    await reporter.flush();
    expect(asked).toBe(1);
    failing = false;
    clock.advance(1);
    reporter.note('sandbox', P, POLICY);
    await reporter.flush();
    expect({ asked, offences }).toEqual({ asked: 2, offences: ['sandbox 198.51.100.7'] });
    expect(reporter.stats()).toEqual({ reported: 1, dropped: 2, offences: 1 });
  });

  it(`waits for at most ${MAX_WAITING_PREFIXES} prefixes; refusals of others are dropped`, async () => {
    let sent = 0;
    const shared: SharedRefusals = {
      add: (_environment, counts) => {
        sent += counts.size;
        return Promise.resolve([]);
      },
    };
    const { reporter } = node(shared);
    for (let i = 0; i <= MAX_WAITING_PREFIXES; i++) reporter.note('sandbox', `p${i}`, POLICY);
    // A prefix already waiting still counts.
    reporter.note('sandbox', 'p0', POLICY);
    await reporter.flush();
    expect(sent).toBe(MAX_WAITING_PREFIXES);
    expect(reporter.stats().dropped).toBe(1);
  });

  it('close sends what waits', async () => {
    const shared = createMemorySharedRefusals();
    const { reporter, offences, timers } = node(shared);
    for (let i = 0; i < 3; i++) reporter.note('sandbox', P, POLICY);
    await reporter.close();
    expect(offences).toEqual(['sandbox 198.51.100.7']);
    expect(timers.pendingTimeouts()).toBe(0);
  });
});
