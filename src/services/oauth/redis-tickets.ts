import type { Clock } from '../../core/clock.js';
import { newTicket, ticketDigest, type TicketGrant, type TicketStore } from './tickets.js';

/** The commands of an ioredis client the ticket store uses. */
export interface RedisTicketClient {
  set(key: string, value: string, px: 'PX', ttlMs: number): Promise<unknown>;
  /** Redis ≥ 6.2: read and delete in one atomic step — the single use of a ticket. */
  getdel(key: string): Promise<string | null>;
}

/**
 * Tickets shared by every node of a cluster: a browser may get its ticket from one node and
 * open its WebSocket on another. Stored under the ticket's SHA-256 with a Redis TTL; GETDEL
 * makes redemption single-use even when two nodes race for the same ticket. Grants are JSON.
 */
export function createRedisTicketStore<T>(
  deps: { redis: RedisTicketClient; clock: Clock; close?: () => Promise<void> },
  options: { keyPrefix: string },
): TicketStore<T> {
  const name = (ticket: string) => `${options.keyPrefix}${ticketDigest(ticket)}`;
  return {
    async put(grant) {
      const ticket = newTicket();
      const ttlMs = Math.max(1, grant.expiresAtMs - deps.clock.now());
      await deps.redis.set(name(ticket), JSON.stringify(grant), 'PX', ttlMs);
      return ticket;
    },
    async take(ticket) {
      const raw = await deps.redis.getdel(name(ticket));
      if (raw === null) return undefined;
      let grant: TicketGrant<T>;
      try {
        grant = JSON.parse(raw) as TicketGrant<T>;
      } catch {
        return undefined;
      }
      // Redis expiry is the first line; the gateway's clock decides at the edge.
      return grant.expiresAtMs > deps.clock.now() ? grant : undefined;
    },
    close: () => deps.close?.() ?? Promise.resolve(),
  };
}
