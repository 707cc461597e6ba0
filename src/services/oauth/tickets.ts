import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';

/** What a ticket stands for; handed back once, on redemption. */
export interface TicketGrant<T> {
  readonly value: T;
  /** The client IP prefix (ipBucket) the ticket was issued to; undefined: not bound. */
  readonly ipPrefix: string | undefined;
  readonly expiresAtMs: number;
}

export interface TicketStore<T> {
  /** Stores a grant and returns the opaque ticket (256 bits from the CSPRNG). */
  put(grant: TicketGrant<T>): Promise<string>;
  /** The grant, removed in the same step (single use); undefined when unknown or expired. */
  take(ticket: string): Promise<TicketGrant<T> | undefined>;
  /** Releases connections (Redis); nothing to do in memory. */
  close(): Promise<void>;
}

export const TICKET_PREFIX = 'pwt_';

/** A new ticket: 256 bits from the CSPRNG, prefixed so that scanners recognise a leaked one. */
export function newTicket(): string {
  return `${TICKET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** What is stored for a ticket: its SHA-256, so that a dump of the store yields nothing to redeem. */
export function ticketDigest(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}

/**
 * Single-use connection tickets in memory. Only the SHA-256 of a ticket is held, so a heap dump
 * yields nothing to redeem. Bounded: expired tickets are swept when the map is full, and the
 * oldest one is dropped if it is still full (its holder asks for a new one).
 */
export function createMemoryTicketStore<T>(
  deps: { clock: Clock },
  options: { maxTickets: number },
): TicketStore<T> {
  const grants = new Map<string, TicketGrant<T>>();

  function makeRoom(): void {
    if (grants.size < options.maxTickets) return;
    const nowMs = deps.clock.now();
    for (const [id, grant] of grants) if (grant.expiresAtMs <= nowMs) grants.delete(id);
    if (grants.size >= options.maxTickets) {
      const oldest = grants.keys().next();
      if (oldest.done !== true) grants.delete(oldest.value);
    }
  }

  return {
    put(grant) {
      makeRoom();
      const ticket = newTicket();
      grants.set(ticketDigest(ticket), grant);
      return Promise.resolve(ticket);
    },
    take(ticket) {
      const id = ticketDigest(ticket);
      const grant = grants.get(id);
      if (grant === undefined) return Promise.resolve(undefined);
      grants.delete(id);
      return Promise.resolve(grant.expiresAtMs > deps.clock.now() ? grant : undefined);
    },
    close: () => Promise.resolve(),
  };
}
