/**
 * Bans read from the audit feed (src/app/rate-limits.ts applyAudit), the way a cluster node whose
 * change events were lost learns another node's bans and lifts (src/app/cluster-sync.ts): a
 * `ban.create` entry bans its environment's prefix, a `ban.lift` entry lifts it, an entry for a
 * ban that was lifted after it was decided bans nothing, and malformed entries change nothing.
 * In memory, on a manual clock; what the node audits for its own bans carries the environment.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalEvents } from '../../src/app/local-events.js';
import { createRateLimitRuntime, type RateLimitRuntime } from '../../src/app/rate-limits.js';
import { loadConfig } from '../../src/config/config.js';
import type { AuditEntry } from '../../src/core/audit/audit-chain.js';
import type { ChangeEvent, ControlStore } from '../../src/ports.js';
import { createManualClock } from '../helpers/manual-clock.js';

const T0 = 1_767_225_600_000;
const P = '198.51.100.7';
let runtime: RateLimitRuntime | undefined;

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
});

function setUp() {
  const clock = createManualClock(T0);
  const audited: Parameters<ControlStore['appendAudit']>[0][] = [];
  const store = {
    appendAudit: (draft: Parameters<ControlStore['appendAudit']>[0]) => {
      audited.push(draft);
      return Promise.resolve();
    },
  } as unknown as ControlStore;
  const config = loadConfig(
    {
      environments: {
        production: { limits: { bans: { refusalThreshold: 2, firstBan: '10m' } } },
        sandbox: { limits: { bans: { refusalThreshold: 2, firstBan: '10m' } } },
      },
    },
    {},
  );
  // Change events as a cluster node hears them (here only what a test publishes).
  const events = createLocalEvents();
  runtime = createRateLimitRuntime(config, {
    clock,
    logger: pino({ level: 'silent' }),
    store,
    events,
  });
  const production = runtime.forEnvironment(config.environments.production);
  const sandbox = runtime.forEnvironment(config.environments.sandbox);
  if (production === undefined || sandbox === undefined) throw new Error('limits are on');
  return { clock, audited, production, sandbox, runtime, events };
}

let seq = 0;
const entry = (action: string, ts: number, data: unknown, target = P): AuditEntry => ({
  seq: ++seq,
  ts,
  actor: 'system',
  action,
  target,
  requestId: 'rate-limit',
  data: data as AuditEntry['data'],
  prevHash: '',
  hash: '',
  seal: '',
});
/** A sandbox `ban.create` entry decided at `ts` (offence 1, ten minutes from T0). */
const banEntry = (ts: number) =>
  entry('ban.create', ts, { environment: 'sandbox', untilMs: T0 + 600_000, offence: 1 });
/** A sandbox `ban.lift` entry at `ts`, without forgiving. */
const liftEntry = (ts: number) =>
  entry('ban.lift', ts, { environments: ['sandbox'], forgive: false });
/** A sandbox ban announced by another node, saying when it was decided unless `undefined`. */
const imposedEvent = (decidedAtMs: number | undefined): ChangeEvent => ({
  type: 'ban.imposed',
  environment: 'sandbox',
  prefix: P,
  untilMs: T0 + 600_000,
  offences: 1,
  ...(decidedAtMs === undefined ? {} : { decidedAtMs }),
});
const banned = (
  limits: { bans: { status(p: string, now: number): { banned: boolean } } },
  now: number,
) => limits.bans.status(P, now).banned;

describe('bans from the audit feed', () => {
  it('a ban.create entry bans the prefix in its environment only, with its offence count', () => {
    const { production, sandbox, runtime, clock } = setUp();
    runtime.applyAudit(
      entry('ban.create', T0, { environment: 'sandbox', untilMs: T0 + 600_000, offence: 2 }),
    );
    expect(banned(sandbox, T0 + 1)).toBe(true);
    expect(banned(production, T0 + 1)).toBe(false);
    expect(runtime.listBans()).toEqual([
      { environment: 'sandbox', prefix: P, untilMs: T0 + 600_000, offences: 2 },
    ]);
    // Applying it again (the node's own ban, an event already heard) changes nothing.
    clock.advance(10);
    runtime.applyAudit(
      entry('ban.create', T0, { environment: 'sandbox', untilMs: T0 + 600_000, offence: 2 }),
    );
    expect(runtime.listBans()).toHaveLength(1);
  });

  it('a ban.lift entry lifts it in the environments it names', () => {
    const { sandbox, runtime } = setUp();
    runtime.applyAudit(banEntry(T0));
    runtime.applyAudit(liftEntry(T0 + 5));
    expect(banned(sandbox, T0 + 6)).toBe(false);
  });

  it('a ban decided before a lift this node applied is the lifted one: it bans nothing', () => {
    const { sandbox, runtime, clock } = setUp();
    // The lift arrived first (an event, or the admin API here); the pass reaches the ban's
    // entry only afterwards.
    clock.set(T0 + 1_000);
    runtime.applyAudit(liftEntry(T0 + 1_000));
    runtime.applyAudit(banEntry(T0));
    expect(banned(sandbox, T0 + 1_001)).toBe(false);
    // A ban decided after the lift is a new one.
    runtime.applyAudit(banEntry(T0 + 2_000));
    expect(banned(sandbox, T0 + 2_001)).toBe(true);
  });

  it('a lift older than the ban in force (whose event came first) leaves that ban', () => {
    const { sandbox, runtime, events, clock } = setUp();
    const imposed = (decidedAtMs: number) => events.publish(imposedEvent(decidedAtMs));
    // Heard as events: a ban, its lift, then a new ban of the same prefix two seconds later.
    imposed(T0);
    clock.set(T0 + 1_000);
    events.publish({ type: 'ban.lifted', environment: 'sandbox', prefix: P, forgive: false });
    clock.set(T0 + 2_000);
    imposed(T0 + 2_000);
    expect(banned(sandbox, T0 + 2_001)).toBe(true);
    // The feed pass that lagged behind reads the three entries now: the new ban stays.
    runtime.applyAudit(banEntry(T0));
    runtime.applyAudit(liftEntry(T0 + 1_000));
    expect(banned(sandbox, T0 + 2_001)).toBe(true);
    runtime.applyAudit(banEntry(T0 + 2_000));
    expect(banned(sandbox, T0 + 2_001)).toBe(true);
    // A later lift is of this ban: it lifts it.
    runtime.applyAudit(liftEntry(T0 + 3_000));
    expect(banned(sandbox, T0 + 3_001)).toBe(false);
  });

  it("a lift older than this node's own ban leaves it; one newer lifts it", () => {
    const { sandbox, runtime } = setUp();
    // Two 429s make an offence (refusalThreshold 2), decided here at T0 + 2000.
    sandbox.bans.recordRefusal(P, T0 + 1_999);
    const outcome = sandbox.bans.recordRefusal(P, T0 + 2_000);
    sandbox.onBan?.({ prefix: P, nowMs: T0 + 2_000, ...outcome.ban! });
    runtime.applyAudit(liftEntry(T0 + 1_000));
    expect(banned(sandbox, T0 + 2_001)).toBe(true);
    runtime.applyAudit(liftEntry(T0 + 2_500));
    expect(banned(sandbox, T0 + 2_501)).toBe(false);
  });

  it('a ban from a node that does not say when it was decided is lifted by the feed, as before', () => {
    const { sandbox, runtime, events, clock } = setUp();
    clock.set(T0 + 2_000);
    events.publish(imposedEvent(undefined));
    runtime.applyAudit(liftEntry(T0 + 1_000));
    expect(banned(sandbox, T0 + 2_001)).toBe(false);
  });

  it('entries without an environment, of other actions, or malformed change nothing', () => {
    const { runtime } = setUp();
    for (const bad of [
      entry('ban.create', T0, { untilMs: T0 + 600_000, offence: 1 }),
      entry('ban.create', T0, { environment: 'sandbox', untilMs: 'soon', offence: 1 }),
      entry('ban.create', T0, { environment: 'sandbox', untilMs: T0 + 600_000, offence: 0 }),
      entry('ban.create', T0, { environment: 'staging', untilMs: T0 + 600_000, offence: 1 }),
      entry('ban.create', T0, null),
      entry(
        'ban.create',
        T0,
        { environment: 'sandbox', untilMs: T0 + 600_000, offence: 1 },
        'x'.repeat(65),
      ),
      entry('key.revoke', T0, { environment: 'sandbox', untilMs: T0 + 600_000, offence: 1 }),
      entry('ban.lift', T0, { environments: 'sandbox' }),
    ]) {
      runtime.applyAudit(bad);
    }
    expect(runtime.listBans()).toEqual([]);
  });

  it('the node audits its own bans with their environment, as the feed needs them', async () => {
    const { sandbox, audited, runtime } = setUp();
    // Two 429s make an offence (refusalThreshold 2).
    sandbox.bans.recordRefusal(P, T0);
    const outcome = sandbox.bans.recordRefusal(P, T0 + 1);
    expect(outcome.ban).toBeDefined();
    sandbox.onBan?.({ prefix: P, nowMs: T0 + 1, ...outcome.ban! });
    await runtime.close();
    expect(audited.map((a) => [a.action, a.target, a.data])).toEqual([
      [
        'ban.create',
        P,
        { environment: 'sandbox', untilMs: T0 + 1 + 600_000, durationMs: 600_000, offence: 1 },
      ],
    ]);
  });
});
