/**
 * Outgoing alert webhooks, signed the way the major payment processors sign theirs:
 * `Portcullis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>.<body>">`. The timestamp
 * is inside the MAC, so a receiver that checks it against a tolerance rejects replays of old
 * deliveries. Deliveries are retried with exponential backoff and jitter from a bounded queue.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Timers } from './traffic-log.js';

export const SIGNATURE_HEADER = 'Portcullis-Signature';
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** `t=…,v1=…` for `body` signed with `secret` at `timestampSeconds`. */
export function signWebhookPayload(body: string, secret: string, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${hmacHex(secret, timestampSeconds, body)}`;
}

function hmacHex(secret: string, timestampSeconds: number, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest('hex');
}

export type WebhookVerification =
  | { readonly ok: true; readonly timestampSeconds: number }
  | {
      readonly ok: false;
      readonly reason: 'HEADER_MALFORMED' | 'TIMESTAMP_OUTSIDE_TOLERANCE' | 'SIGNATURE_MISMATCH';
    };

const HEX_64 = /^[0-9a-f]{64}$/;

/**
 * Verifies a `Portcullis-Signature` header over the raw body bytes as received. Accepts when any
 * `v1` entry matches (several are sent while a secret is rotated) and the timestamp is within
 * `toleranceSeconds` of `nowMs` either way. Pure apart from the HMAC; comparison is constant-time.
 */
export function verifyWebhookSignature(
  header: string | undefined,
  body: string | Buffer,
  secret: string,
  nowMs: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): WebhookVerification {
  if (header === undefined) return { ok: false, reason: 'HEADER_MALFORMED' };
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq < 0) return { ok: false, reason: 'HEADER_MALFORMED' };
    if (name === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) {
        return { ok: false, reason: 'HEADER_MALFORMED' };
      }
      timestamp = Number(value);
    } else if (name === 'v1' && HEX_64.test(value)) {
      candidates.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0, future v2) are ignored, as Stripe's verifiers do.
  }
  if (timestamp === undefined || candidates.length === 0) {
    return { ok: false, reason: 'HEADER_MALFORMED' };
  }
  if (Math.abs(nowMs / 1000 - timestamp) > toleranceSeconds) {
    return { ok: false, reason: 'TIMESTAMP_OUTSIDE_TOLERANCE' };
  }
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  // Check every candidate (no early exit) so timing says nothing about which one matched.
  let matched = false;
  for (const candidate of candidates) matched = timingSafeEqual(candidate, expected) || matched;
  return matched
    ? { ok: true, timestampSeconds: timestamp }
    : { ok: false, reason: 'SIGNATURE_MISMATCH' };
}

/** An alert (or any event) to deliver; serialised once, signed per endpoint. */
export interface WebhookEvent {
  /** Unique id; receivers use it to ignore a redelivery they already processed. */
  readonly id: string;
  readonly type: string;
  readonly createdAt: number;
  readonly data: unknown;
}

export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly secret: string;
}

export interface WebhookOptions {
  readonly endpoints: readonly WebhookEndpoint[];
  /** Deliveries waiting or in flight at most; beyond it new deliveries are dropped. */
  readonly maxQueued: number;
  /** Attempts per delivery, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: Omit<WebhookOptions, 'endpoints'> = {
  maxQueued: 1000,
  maxAttempts: 8,
  baseDelayMs: 1000,
  maxDelayMs: 15 * 60_000,
  timeoutMs: 10_000,
  concurrency: 4,
};

export type DeliveryOutcome = 'delivered' | 'retried' | 'failed' | 'dropped';

export interface WebhookDeps {
  readonly clock: Clock;
  readonly timers: Timers;
  /** Defaults to the global fetch (undici). */
  readonly fetch?: typeof fetch;
  /** In [0, 1); defaults to Math.random (jitter needs no cryptographic quality). */
  readonly random?: () => number;
  /** Per attempt outcome, for metrics and logs (endpoint id only: never the secret or URL). */
  readonly onOutcome?: (outcome: DeliveryOutcome, endpointId: string, status?: number) => void;
}

export interface WebhookSender {
  /** Queues the event for every endpoint; false when the queue had no room for some. */
  send(event: WebhookEvent): boolean;
  /** Resolves when nothing is queued, waiting or in flight. */
  idle(): Promise<void>;
  stats(): { queued: number; delivered: number; failed: number; dropped: number };
  close(): void;
}

interface Delivery {
  readonly endpoint: WebhookEndpoint;
  readonly event: WebhookEvent;
  readonly body: string;
  attempt: number;
}

/**
 * Delay before attempt `attempt + 1`: exponential from `baseDelayMs`, capped at `maxDelayMs`,
 * with "equal jitter" (half fixed, half random) so that receivers recovering from an outage
 * are not hit by every sender at the same instant.
 */
export function backoffDelayMs(
  attempt: number,
  options: Pick<WebhookOptions, 'baseDelayMs' | 'maxDelayMs'>,
  random: number,
): number {
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random);
}

/** Creates a sender; deliveries start as soon as they are queued. */
export function createWebhookSender(deps: WebhookDeps, options: WebhookOptions): WebhookSender {
  const doFetch = deps.fetch ?? fetch;
  const random = deps.random ?? Math.random;
  const ready: Delivery[] = [];
  const waiting = new Map<unknown, Delivery>();
  let inFlight = 0;
  let pending = 0;
  let delivered = 0;
  let failed = 0;
  let dropped = 0;
  let closed = false;
  let idleWaiters: (() => void)[] = [];

  const settleIfIdle = (): void => {
    if (pending > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    waiters.forEach((resolve) => resolve());
  };

  function pump(): void {
    while (!closed && inFlight < options.concurrency && ready.length > 0) {
      const delivery = ready.shift();
      if (delivery === undefined) break;
      inFlight += 1;
      void attempt(delivery).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  }

  async function attempt(delivery: Delivery): Promise<void> {
    delivery.attempt += 1;
    const status = await post(delivery);
    if (status !== undefined && status >= 200 && status < 300) {
      delivered += 1;
      finish('delivered', delivery, status);
      return;
    }
    // 4xx other than 408/429 means the receiver refuses this delivery: retrying cannot help.
    const retryable = status === undefined || status >= 500 || status === 408 || status === 429;
    if (!retryable || delivery.attempt >= options.maxAttempts || closed) {
      failed += 1;
      finish('failed', delivery, status);
      return;
    }
    deps.onOutcome?.('retried', delivery.endpoint.id, status);
    const handle = deps.timers.setTimeout(
      () => {
        waiting.delete(handle);
        ready.push(delivery);
        pump();
      },
      backoffDelayMs(delivery.attempt, options, random()),
    );
    waiting.set(handle, delivery);
  }

  function finish(outcome: DeliveryOutcome, delivery: Delivery, status?: number): void {
    deps.onOutcome?.(outcome, delivery.endpoint.id, status);
    pending -= 1;
    settleIfIdle();
  }

  async function post(delivery: Delivery): Promise<number | undefined> {
    const timestampSeconds = Math.floor(deps.clock.now() / 1000);
    try {
      const response = await doFetch(delivery.endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Portcullis-Webhooks/1',
          'portcullis-webhook-id': delivery.event.id,
          [SIGNATURE_HEADER]: signWebhookPayload(
            delivery.body,
            delivery.endpoint.secret,
            timestampSeconds,
          ),
        },
        body: delivery.body,
        // A redirect could point the signed alert anywhere (OWASP API7, SSRF): not followed.
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await response.body?.cancel();
      return response.status;
    } catch {
      return undefined;
    }
  }

  return {
    send(event) {
      if (closed) return false;
      const body = JSON.stringify(event);
      let all = true;
      for (const endpoint of options.endpoints) {
        if (pending >= options.maxQueued) {
          dropped += 1;
          all = false;
          deps.onOutcome?.('dropped', endpoint.id);
          continue;
        }
        pending += 1;
        ready.push({ endpoint, event, body, attempt: 0 });
      }
      pump();
      return all;
    },
    idle() {
      if (pending === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stats: () => ({ queued: pending, delivered, failed, dropped }),
    close() {
      closed = true;
      // Deliveries not yet in flight are dropped; those in flight finish (and are not retried).
      for (const handle of waiting.keys()) deps.timers.clearTimeout(handle);
      const abandoned = waiting.size + ready.length;
      waiting.clear();
      ready.length = 0;
      pending -= abandoned;
      dropped += abandoned;
      settleIfIdle();
    },
  };
}
