/**
 * Runs against a real Redis at 127.0.0.1:6379 (REDIS_URL overrides). Each test uses a channel of
 * its own; waits are on events (status changes, deliveries), never on sleeps.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRedisChangeEvents,
  type ChangeEventsStatus,
  type RedisChangeEvents,
  type RedisChangeEventsOptions,
} from '../../../src/adapters/redis/change-events.js';
import type { ChangeEvent } from '../../../src/ports.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const keyChanged = (keyId: string, epoch = 2): ChangeEvent => ({
  type: 'key.changed',
  keyId,
  epoch,
});

/** Collects what a bus delivers and lets a test wait for the n-th delivery. */
function collect(bus: RedisChangeEvents) {
  const seen: ChangeEvent[] = [];
  const waiting: { count: number; resolve: () => void }[] = [];
  bus.subscribe((event) => {
    seen.push(event);
    for (const waiter of waiting.filter((w) => seen.length >= w.count)) waiter.resolve();
  });
  return {
    seen,
    until: (count: number) =>
      seen.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiting.push({ count, resolve })),
  };
}

/** Records status changes and lets a test wait for the next one of a kind. */
function statusLog() {
  const log: ChangeEventsStatus[] = [];
  const waiting: { status: ChangeEventsStatus; after: number; resolve: () => void }[] = [];
  return {
    log,
    onStatus: (status: ChangeEventsStatus) => {
      log.push(status);
      for (const w of waiting.filter((x) => x.status === status && log.length > x.after)) {
        w.resolve();
      }
    },
    next: (status: ChangeEventsStatus) => {
      const after = log.length;
      return new Promise<void>((resolve) => waiting.push({ status, after, resolve }));
    },
  };
}

/** Kills the one connection with this name (never anyone else's); returns how many were killed. */
async function killOnly(redis: Redis, connectionName: string): Promise<number> {
  const list = String(await redis.client('LIST'));
  const line = list.split('\n').find((entry) => entry.includes(` name=${connectionName} `));
  const id = /^id=(\d+)/.exec(line ?? '')?.[1];
  if (id === undefined) return 0;
  return Number(await redis.client('KILL', 'ID', id));
}

describe('Redis change events', () => {
  const buses: RedisChangeEvents[] = [];
  const admins: Redis[] = [];
  const channel = () => `portcullis:test:changes:${randomUUID()}`;

  const open = async (options: RedisChangeEventsOptions, url = REDIS_URL) => {
    const bus = createRedisChangeEvents({ url }, options);
    buses.push(bus);
    if (url === REDIS_URL) expect(await bus.ready()).toBe(true);
    return bus;
  };
  const admin = () => {
    const redis = new Redis(REDIS_URL);
    admins.push(redis);
    return redis;
  };

  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
    await Promise.all(admins.splice(0).map((redis) => redis.quit()));
  });

  it('delivers an event published on one node to another node on the channel', async () => {
    const name = channel();
    const a = await open({ channel: name });
    const b = collect(await open({ channel: name }));
    a.publish(keyChanged('pk_test_a'));
    await b.until(1);
    expect(b.seen).toEqual([keyChanged('pk_test_a')]);
  });

  it('delivers to the publishing node at once, before any round trip', async () => {
    const a = await open({ channel: channel() });
    const local = collect(a);
    a.publish({ type: 'admin-token.changed', tokenId: 'adm_1' });
    expect(local.seen).toEqual([{ type: 'admin-token.changed', tokenId: 'adm_1' }]);
  });

  it('does not deliver a node its own event a second time when Redis echoes it', async () => {
    const name = channel();
    const a = await open({ channel: name });
    const b = await open({ channel: name });
    const atA = collect(a);
    const atB = collect(b);
    a.publish(keyChanged('pk_test_1'));
    await atB.until(1);
    // Redis delivers in publish order, so A's echo of its own event would arrive before this.
    b.publish(keyChanged('pk_test_2'));
    await atA.until(2);
    expect(atA.seen).toEqual([keyChanged('pk_test_1'), keyChanged('pk_test_2')]);
  });

  it('carries policy changes to the other nodes', async () => {
    const name = channel();
    const a = await open({ channel: name });
    const b = collect(await open({ channel: name }));
    a.publish({ type: 'policy.changed', policyId: 'no-eth' });
    await b.until(1);
    expect(b.seen).toEqual([{ type: 'policy.changed', policyId: 'no-eth' }]);
  });

  it('carries risk changes (a step-down or a lift) to the other nodes', async () => {
    const name = channel();
    const a = await open({ channel: name });
    const b = collect(await open({ channel: name }));
    a.publish({ type: 'risk.changed', target: 'pk_test_a' });
    await b.until(1);
    expect(b.seen).toEqual([{ type: 'risk.changed', target: 'pk_test_a' }]);
  });

  it('carries token revocations to the other nodes (their WebSocket sessions end)', async () => {
    const name = channel();
    const a = await open({ channel: name });
    const b = collect(await open({ channel: name }));
    a.publish({ type: 'token.revoked', jti: 'tok_1' });
    await b.until(1);
    expect(b.seen).toEqual([{ type: 'token.revoked', jti: 'tok_1' }]);
  });

  it('carries bans and their lifts to the other nodes, and drops malformed ones', async () => {
    const name = channel();
    const errors: Error[] = [];
    const a = await open({ channel: name });
    const b = collect(await open({ channel: name, onError: (error) => errors.push(error) }));
    const imposed = {
      type: 'ban.imposed',
      environment: 'sandbox',
      prefix: '2001:db8:1:2::/64',
      untilMs: 1_800_000_000_000,
      offences: 2,
    } as const;
    const redis = admin();
    // Each broken in one way: environment, prefix (empty, too long), untilMs, offences, forgive.
    for (const bad of [
      { ...imposed, environment: 'staging' },
      { ...imposed, prefix: '' },
      { ...imposed, prefix: 'x'.repeat(65) },
      { ...imposed, untilMs: 'soon' },
      { ...imposed, offences: 0 },
      { ...imposed, offences: 1.5 },
      { type: 'ban.lifted', environment: 'sandbox', prefix: '198.51.100.7', forgive: 'yes' },
    ]) {
      await redis.publish(name, JSON.stringify({ origin: 'x', event: bad }));
    }
    a.publish(imposed);
    a.publish({
      type: 'ban.lifted',
      environment: 'sandbox',
      prefix: '198.51.100.7',
      forgive: true,
    });
    await b.until(2);
    expect(b.seen).toEqual([
      imposed,
      { type: 'ban.lifted', environment: 'sandbox', prefix: '198.51.100.7', forgive: true },
    ]);
    expect(errors).toHaveLength(7);
  });

  it('carries when a ban was decided, and leaves out a time that is not an integer', async () => {
    const name = channel();
    const a = await open({ channel: name });
    const b = collect(await open({ channel: name }));
    const imposed = {
      type: 'ban.imposed',
      environment: 'sandbox',
      prefix: '198.51.100.7',
      untilMs: 1_800_000_000_000,
      offences: 1,
    } as const;
    a.publish({ ...imposed, decidedAtMs: 1_799_999_400_000 });
    // A node of another version: the ban still applies, its decision time is unknown.
    await admin().publish(
      name,
      JSON.stringify({ origin: 'x', event: { ...imposed, decidedAtMs: 'earlier' } }),
    );
    await b.until(2);
    expect(b.seen).toEqual([{ ...imposed, decidedAtMs: 1_799_999_400_000 }, imposed]);
  });

  it('reports how long after publication a remote event arrived, and only for stamped ones', async () => {
    const name = channel();
    const lags: { type: string; lagMs: number }[] = [];
    const a = await open({ channel: name });
    const b = collect(
      await open({
        channel: name,
        onLag: (event, lagMs) => lags.push({ type: event.type, lagMs }),
      }),
    );
    // An envelope without `sentAt` (an older publisher) is delivered, with no lag to report.
    await admin().publish(
      name,
      JSON.stringify({ origin: 'old', event: keyChanged('pk_test_old') }),
    );
    a.publish(keyChanged('pk_test_new'));
    await b.until(2);
    expect(b.seen).toEqual([keyChanged('pk_test_old'), keyChanged('pk_test_new')]);
    expect(lags).toHaveLength(1);
    expect(lags[0]?.type).toBe('key.changed');
    expect(lags[0]?.lagMs).toBeGreaterThanOrEqual(0);
  });

  it('keeps clusters on different channels apart', async () => {
    const name = channel();
    const other = collect(await open({ channel: channel() }));
    const a = await open({ channel: name });
    const b = collect(await open({ channel: name }));
    a.publish(keyChanged('pk_test_a'));
    await b.until(1);
    expect(other.seen).toEqual([]);
  });

  it('drops a malformed message, reports it, and delivers the next valid one', async () => {
    const name = channel();
    const errors: Error[] = [];
    const b = collect(await open({ channel: name, onError: (error) => errors.push(error) }));
    const redis = admin();
    await redis.publish(name, 'not json');
    await redis.publish(name, JSON.stringify({ origin: 'x', event: { type: 'key.changed' } }));
    await redis.publish(name, JSON.stringify({ origin: 'x', event: keyChanged('pk_test_ok') }));
    await b.until(1);
    expect(b.seen).toEqual([keyChanged('pk_test_ok')]);
    expect(errors).toHaveLength(2);
  });

  it('keeps delivering to other handlers when one throws, and reports it', async () => {
    const errors: Error[] = [];
    const a = await open({ channel: channel(), onError: (error) => errors.push(error) });
    a.subscribe(() => {
      throw new Error('handler failed');
    });
    const second = collect(a);
    a.publish(keyChanged('pk_test_a'));
    expect(second.seen).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });

  it('stops delivering to a handler that unsubscribed', async () => {
    const a = await open({ channel: channel() });
    const seen: ChangeEvent[] = [];
    const unsubscribe = a.subscribe((event) => seen.push(event));
    unsubscribe();
    a.publish(keyChanged('pk_test_a'));
    expect(seen).toEqual([]);
  });

  it('reports connected once subscribed', async () => {
    const status = statusLog();
    const a = await open({ channel: channel(), onStatus: status.onStatus });
    expect(a.connected()).toBe(true);
    expect(status.log).toEqual(['connected']);
  });

  it('reconnects after its subscriber connection is killed, and events flow again', async () => {
    const name = channel();
    const nodeId = randomUUID();
    const status = statusLog();
    const b = await open({ channel: name, nodeId, onStatus: status.onStatus });
    const atB = collect(b);
    const a = await open({ channel: name });
    const down = status.next('disconnected');
    const up = status.next('connected');
    expect(await killOnly(admin(), `portcullis-events-sub-${nodeId}`)).toBe(1);
    await down;
    await up;
    expect(status.log).toEqual(['connected', 'disconnected', 'connected']);
    expect(b.connected()).toBe(true);
    a.publish(keyChanged('pk_test_after'));
    await atB.until(1);
    expect(atB.seen).toEqual([keyChanged('pk_test_after')]);
  });

  it('never throws into the publisher when Redis is unreachable, and reports it', async () => {
    let failed: () => void = () => undefined;
    const reported = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const a = await open({ channel: channel(), onError: () => failed() }, 'redis://127.0.0.1:1');
    const local = collect(a);
    expect(() => a.publish(keyChanged('pk_test_a'))).not.toThrow();
    expect(local.seen).toHaveLength(1);
    expect(a.connected()).toBe(false);
    await reported;
  });

  it('works over clients the caller owns and leaves them open on close', async () => {
    const name = channel();
    const publisher = admin();
    const subscriber = admin();
    const owned = createRedisChangeEvents({ publisher, subscriber }, { channel: name });
    const atOwned = collect(owned);
    expect(await owned.ready()).toBe(true);
    const a = await open({ channel: name });
    a.publish(keyChanged('pk_test_owned'));
    await atOwned.until(1);
    await owned.close();
    expect(await publisher.ping()).toBe('PONG');
  });

  it('answers ready false when it cannot subscribe in time', async () => {
    const a = await open({ channel: channel() }, 'redis://127.0.0.1:1');
    expect(await a.ready(50)).toBe(false);
  });
});
