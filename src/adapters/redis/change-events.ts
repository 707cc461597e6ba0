/**
 * Change events for a cluster over Redis pub/sub: every node publishes its control-plane changes
 * (revocation, rotation, scope changes, policies, admin tokens, risk responses, bans) on one
 * channel and applies everyone's.
 *
 * Pub/sub is at-most-once: a node that is disconnected misses what was published meanwhile.
 * So the adapter says when it is (dis)connected — `connected()` and `onStatus` — and the key
 * cache tightens to store reads while it is down and re-validates when it comes back.
 */
import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from './ioredis.js';
import { isBanPrefix, sharedBanOf } from '../../core/limits/bans.js';
import type { ChangeEvent, ChangeEvents } from '../../ports.js';

/** The publishing command of an ioredis client. */
export interface RedisPublisher {
  publish(channel: string, message: string): Promise<number>;
}

/** The subscriber-mode slice of an ioredis client (a connection used for nothing else). */
export interface RedisSubscriber {
  readonly status: string;
  subscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'ready' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type RedisChangeEventsDeps =
  | { readonly url: string }
  /** Clients the caller owns (and closes); the subscriber must not be used for anything else. */
  | { readonly publisher: RedisPublisher; readonly subscriber: RedisSubscriber };

export type ChangeEventsStatus = 'connected' | 'disconnected';

export interface RedisChangeEventsOptions {
  /** Default `portcullis:changes`. Nodes of one cluster share it; clusters must not. */
  readonly channel?: string;
  /** This node's id in every message (own echoes are skipped). Default: a random UUID. */
  readonly nodeId?: string;
  /** Called on every change of subscriber status, not on repeats. */
  readonly onStatus?: (status: ChangeEventsStatus) => void;
  /** A publish that failed, a malformed message, a handler that threw. Never given secrets. */
  readonly onError?: (error: Error) => void;
  /**
   * Told, for every event from another node, how long after its publication (by the publisher's
   * wall clock, so skew between the machines is included) it was delivered here.
   */
  readonly onLag?: (event: ChangeEvent, lagMs: number) => void;
}

export interface RedisChangeEvents extends ChangeEvents {
  /** Whether the subscription is live: false means events from other nodes may be missed. */
  connected(): boolean;
  /** Resolves true once subscribed, or false if not within `timeoutMs` (never rejects). */
  ready(timeoutMs?: number): Promise<boolean>;
  /** Stops delivery; quits the connections this adapter opened itself (from `url`). */
  close(): Promise<void>;
}

const DEFAULT_CHANNEL = 'portcullis:changes';

/** Reconnect quickly and forever: a node without events is degraded until it is back. */
const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 1000);

/** A publish while Redis is away fails at once (reported) instead of queueing without bound. */
export const REDIS_EVENTS_PUBLISHER_OPTIONS = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 1000,
  connectTimeout: 1000,
  retryStrategy,
} as const satisfies RedisOptions;

/** The adapter re-subscribes itself on every `ready`, and only then reports `connected`. */
export const REDIS_EVENTS_SUBSCRIBER_OPTIONS = {
  autoResubscribe: false,
  connectTimeout: 1000,
  retryStrategy,
} as const satisfies RedisOptions;

/** Creates the Redis change-event bus of one node. */
export function createRedisChangeEvents(
  deps: RedisChangeEventsDeps,
  options: RedisChangeEventsOptions = {},
): RedisChangeEvents {
  const channel = options.channel ?? DEFAULT_CHANNEL;
  const nodeId = options.nodeId ?? randomUUID();
  const report = (error: unknown) => {
    options.onError?.(error instanceof Error ? error : new Error('change events failure'));
  };
  const owned = 'url' in deps ? openClients(deps.url, nodeId, report) : undefined;
  const publisher = owned?.publisher ?? ('publisher' in deps ? deps.publisher : undefined);
  const subscriber = owned?.subscriber ?? ('subscriber' in deps ? deps.subscriber : undefined);
  if (!publisher || !subscriber) throw new Error('change events need a url or both clients');

  const handlers = new Set<(event: ChangeEvent) => void>();
  const waiters = new Set<() => void>();
  let live = false;
  let closed = false;

  const setLive = (next: boolean) => {
    if (next === live || closed) return;
    live = next;
    if (live) for (const wake of waiters) wake();
    options.onStatus?.(live ? 'connected' : 'disconnected');
  };

  const deliver = (event: ChangeEvent) => {
    if (closed) return;
    // A copy: a handler may unsubscribe itself; one that throws must not starve the others.
    for (const handler of [...handlers]) {
      try {
        handler(event);
      } catch (error) {
        report(error);
      }
    }
  };

  const subscribe = () => {
    subscriber.subscribe(channel).then(() => {
      // Connected only once the server confirmed the subscription: from here nothing is missed.
      if (subscriber.status === 'ready') setLive(true);
    }, report);
  };
  subscriber.on('ready', subscribe);
  subscriber.on('close', () => setLive(false));
  subscriber.on('error', report);
  subscriber.on('message', (from, message) => {
    if (from !== channel) return;
    const envelope = parseEnvelope(message);
    if (!envelope) {
      report(new Error(`malformed change event on ${channel}`));
      return;
    }
    // Our own events were delivered locally when published.
    if (envelope.origin === nodeId) return;
    deliver(envelope.event);
    if (envelope.sentAt !== undefined)
      options.onLag?.(envelope.event, Date.now() - envelope.sentAt);
  });
  if (subscriber.status === 'ready') subscribe();

  return {
    publish(event) {
      // Locally first and synchronously: this node must not wait for the round trip.
      deliver(event);
      if (closed) return;
      const message = JSON.stringify({ origin: nodeId, sentAt: Date.now(), event });
      try {
        publisher.publish(channel, message).catch(report);
      } catch (error) {
        report(error);
      }
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => {
        handlers.delete(handler);
      };
    },
    connected: () => live,
    ready(timeoutMs = 2000) {
      if (live) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (result: boolean) => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(result);
        };
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        waiters.add(wake);
      });
    },
    async close() {
      if (closed) return;
      live = false;
      closed = true;
      handlers.clear();
      if (owned) await Promise.all([quit(owned.publisher), quit(owned.subscriber)]);
    },
  };
}

function openClients(url: string, nodeId: string, report: (error: unknown) => void) {
  const publisher = new Redis(url, {
    ...REDIS_EVENTS_PUBLISHER_OPTIONS,
    connectionName: `portcullis-events-pub-${nodeId}`,
  });
  const subscriber = new Redis(url, {
    ...REDIS_EVENTS_SUBSCRIBER_OPTIONS,
    connectionName: `portcullis-events-sub-${nodeId}`,
  });
  // ioredis emits 'error' on every failed (re)connect; unhandled, it would end the process.
  publisher.on('error', report);
  return { publisher, subscriber };
}

async function quit(client: Redis): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** Accepts only the shapes of ChangeEvent; anything else on the channel is dropped. */
function parseEnvelope(
  message: string,
): { origin: string; sentAt?: number; event: ChangeEvent } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || typeof value['origin'] !== 'string') return undefined;
  const sentAt = value['sentAt'];
  const stamp = typeof sentAt === 'number' && Number.isFinite(sentAt) ? { sentAt } : {};
  const event = value['event'];
  if (!isRecord(event)) return undefined;
  if (
    event['type'] === 'key.changed' &&
    typeof event['keyId'] === 'string' &&
    typeof event['epoch'] === 'number'
  ) {
    return {
      origin: value['origin'],
      ...stamp,
      event: { type: 'key.changed', keyId: event['keyId'], epoch: event['epoch'] },
    };
  }
  if (event['type'] === 'admin-token.changed' && typeof event['tokenId'] === 'string') {
    return {
      origin: value['origin'],
      ...stamp,
      event: { type: 'admin-token.changed', tokenId: event['tokenId'] },
    };
  }
  if (event['type'] === 'policy.changed' && typeof event['policyId'] === 'string') {
    return {
      origin: value['origin'],
      ...stamp,
      event: { type: 'policy.changed', policyId: event['policyId'] },
    };
  }
  if (event['type'] === 'risk.changed' && typeof event['target'] === 'string') {
    return {
      origin: value['origin'],
      ...stamp,
      event: { type: 'risk.changed', target: event['target'] },
    };
  }
  if (event['type'] === 'token.revoked' && typeof event['jti'] === 'string') {
    return {
      origin: value['origin'],
      ...stamp,
      event: { type: 'token.revoked', jti: event['jti'] },
    };
  }
  const environment = event['environment'];
  if (environment !== 'sandbox' && environment !== 'production') return undefined;
  if (event['type'] === 'ban.imposed') {
    const ban = sharedBanOf(event['prefix'], event['untilMs'], event['offences']);
    const decidedAtMs = event['decidedAtMs'];
    if (ban !== undefined) {
      return {
        origin: value['origin'],
        ...stamp,
        event: {
          type: 'ban.imposed',
          environment,
          ...ban,
          ...(Number.isSafeInteger(decidedAtMs) ? { decidedAtMs: decidedAtMs as number } : {}),
        },
      };
    }
  }
  const { prefix, forgive } = event;
  if (event['type'] === 'ban.lifted' && isBanPrefix(prefix) && typeof forgive === 'boolean') {
    return {
      origin: value['origin'],
      ...stamp,
      event: { type: 'ban.lifted', environment, prefix, forgive },
    };
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
