import { Redis } from '../adapters/redis/ioredis.js';
import type { Logger } from 'pino';
import { REDIS_FAIL_FAST_OPTIONS } from '../adapters/redis/replay-guard.js';
import type { Config } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import type { KeyLookup } from '../core/pipeline.js';
import type { ChangeEvents, ControlStore } from '../ports.js';
import {
  createAccessTokenService,
  type AccessGrant,
  type AccessTokenService,
} from '../services/access-tokens.js';
import type { Keyring } from '../services/envelope.js';
import { createRedisTicketStore } from '../services/oauth/redis-tickets.js';
import type { TicketStore } from '../services/oauth/tickets.js';

/**
 * The authorization server as the composition root builds it: signing keys and revocations in
 * the store (shared by every node using it) and, when `redis` is configured, tickets in Redis so
 * that a ticket from one node opens a WebSocket on any other. Without Redis tickets stay in
 * this node's memory (a single node, or a load balancer with affinity).
 */
export function createAccessTokenRuntime(
  config: Config,
  deps: {
    store: ControlStore;
    keyring: () => Keyring;
    keys: KeyLookup;
    clock: Clock;
    logger: Logger;
    /** Every node's WebSocket gateway ends the sessions of a revoked token (`token.revoked`). */
    events?: ChangeEvents;
  },
): AccessTokenService {
  let tickets: TicketStore<AccessGrant> | undefined;
  if (config.redis !== null) {
    const redis = new Redis(config.redis, { ...REDIS_FAIL_FAST_OPTIONS, lazyConnect: false });
    // ioredis reconnects by itself; a failed ticket operation is answered (and logged) per call.
    redis.on('error', () => undefined);
    tickets = createRedisTicketStore<AccessGrant>(
      {
        redis,
        clock: deps.clock,
        close: async () => {
          redis.disconnect();
          return Promise.resolve();
        },
      },
      { keyPrefix: config.oauth.ticketKeyPrefix },
    );
  }
  const service = createAccessTokenService(
    {
      store: deps.store,
      keyring: deps.keyring,
      keys: deps.keys,
      clock: deps.clock,
      logger: deps.logger,
      ...(tickets !== undefined ? { tickets } : {}),
    },
    config.oauth,
  );
  const events = deps.events;
  if (events === undefined) return service;
  return {
    ...service,
    async revoke(claims) {
      await service.revoke(claims);
      events.publish({ type: 'token.revoked', jti: claims.jti });
    },
  };
}
