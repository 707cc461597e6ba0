import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Timers } from '../../src/services/traffic-log.js';
import {
  backoffDelayMs,
  createWebhookSender,
  signWebhookPayload,
  verifyWebhookSignature,
  type WebhookEvent,
} from '../../src/services/webhooks.js';
import { createManualClock } from '../helpers/manual-clock.js';

const SECRET = 'whsec_test_0123456789abcdef';
const NOW_MS = 1_767_225_600_000;
const NOW_S = NOW_MS / 1000;
const BODY = '{"id":"evt_1","type":"alert.opened"}';

describe('verifyWebhookSignature', () => {
  it('accepts a signature made with the same secret', () => {
    const header = signWebhookPayload(BODY, SECRET, NOW_S);
    expect(verifyWebhookSignature(header, BODY, SECRET, NOW_MS)).toEqual({
      ok: true,
      timestampSeconds: NOW_S,
    });
  });

  it('matches an independent computation of HMAC-SHA256 over "t.body"', async () => {
    const { createHmac } = await import('node:crypto');
    const hex = createHmac('sha256', SECRET).update(`${NOW_S}.${BODY}`).digest('hex');
    expect(signWebhookPayload(BODY, SECRET, NOW_S)).toBe(`t=${NOW_S},v1=${hex}`);
  });

  it('rejects a tampered body', () => {
    const header = signWebhookPayload(BODY, SECRET, NOW_S);
    expect(verifyWebhookSignature(header, BODY.replace('1', '2'), SECRET, NOW_MS)).toEqual({
      ok: false,
      reason: 'SIGNATURE_MISMATCH',
    });
  });

  it('rejects another secret', () => {
    const header = signWebhookPayload(BODY, SECRET, NOW_S);
    expect(verifyWebhookSignature(header, BODY, 'other', NOW_MS)).toMatchObject({
      reason: 'SIGNATURE_MISMATCH',
    });
  });

  it('rejects a timestamp older than the tolerance', () => {
    const header = signWebhookPayload(BODY, SECRET, NOW_S - 301);
    expect(verifyWebhookSignature(header, BODY, SECRET, NOW_MS, 300)).toMatchObject({
      reason: 'TIMESTAMP_OUTSIDE_TOLERANCE',
    });
  });

  it('rejects a moved timestamp even inside the tolerance (the MAC covers it)', () => {
    const header = signWebhookPayload(BODY, SECRET, NOW_S).replace(`t=${NOW_S}`, `t=${NOW_S + 1}`);
    expect(verifyWebhookSignature(header, BODY, SECRET, NOW_MS)).toMatchObject({
      reason: 'SIGNATURE_MISMATCH',
    });
  });

  it('accepts when any of several v1 signatures matches (secret rotation)', () => {
    const good = signWebhookPayload(BODY, SECRET, NOW_S).split(',')[1];
    const header = `t=${NOW_S},v1=${'0'.repeat(64)},${good}`;
    expect(verifyWebhookSignature(header, BODY, SECRET, NOW_MS).ok).toBe(true);
  });

  it.each([
    undefined,
    '',
    `v1=${'0'.repeat(64)}`,
    `t=${NOW_S}`,
    `t=abc,v1=${'0'.repeat(64)}`,
    `t=${NOW_S},t=${NOW_S},v1=${'0'.repeat(64)}`,
    `t=${NOW_S},v1=xyz`,
  ])('rejects the malformed header %s', (header) => {
    expect(verifyWebhookSignature(header, BODY, SECRET, NOW_MS)).toMatchObject({
      reason: 'HEADER_MALFORMED',
    });
  });
});

describe('backoffDelayMs', () => {
  const options = { baseDelayMs: 1000, maxDelayMs: 60_000 };

  it('doubles per attempt with half of it jittered', () => {
    expect([1, 2, 3].map((a) => backoffDelayMs(a, options, 0))).toEqual([500, 1000, 2000]);
    expect([1, 2, 3].map((a) => backoffDelayMs(a, options, 0.999_999))).toEqual([1000, 2000, 4000]);
  });

  it('never exceeds maxDelayMs', () => {
    expect(backoffDelayMs(30, options, 0.999_999)).toBe(60_000);
  });
});

/** Timers whose timeouts run on the next macrotask and remember the delay asked for. */
function immediateTimers() {
  const delays: number[] = [];
  const timers: Timers = {
    setInterval: () => 0,
    clearInterval: () => undefined,
    setTimeout: (fn, ms) => {
      delays.push(ms);
      return setImmediate(fn);
    },
    clearTimeout: (h) => clearImmediate(h as NodeJS.Immediate),
  };
  return { timers, delays };
}

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real receiver on 127.0.0.1 answering the given statuses in turn (the last one repeats). */
async function receiver(statuses: number[]) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)] ?? 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  servers.push(server);
  return { url: `http://127.0.0.1:${port}/hook`, received };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const event: WebhookEvent = {
  id: 'evt_1',
  type: 'alert.opened',
  createdAt: NOW_MS,
  data: { signal: 'rate_spike', keyId: 'pk_live_a' },
};

describe('webhook sender', () => {
  const options = {
    maxQueued: 10,
    maxAttempts: 4,
    baseDelayMs: 1000,
    maxDelayMs: 60_000,
    timeoutMs: 5000,
    concurrency: 2,
  };

  it('retries a receiver that answers 500, then delivers on its 200', async () => {
    const hook = await receiver([500, 200]);
    const { timers, delays } = immediateTimers();
    const outcomes: string[] = [];
    const sender = createWebhookSender(
      {
        clock: createManualClock(NOW_MS),
        timers,
        random: () => 0.5,
        onOutcome: (o) => outcomes.push(o),
      },
      { ...options, endpoints: [{ id: 'wh_1', url: hook.url, secret: SECRET }] },
    );
    expect(sender.send(event)).toBe(true);
    await sender.idle();
    expect(outcomes).toEqual(['retried', 'delivered']);
    expect(delays).toEqual([750]);
    expect(hook.received).toHaveLength(2);
  });

  it('sends a body and signature the receiver can verify', async () => {
    const hook = await receiver([200]);
    const { timers } = immediateTimers();
    const sender = createWebhookSender(
      { clock: createManualClock(NOW_MS), timers },
      { ...options, endpoints: [{ id: 'wh_1', url: hook.url, secret: SECRET }] },
    );
    sender.send(event);
    await sender.idle();
    const [delivery] = hook.received;
    const header = delivery?.headers['portcullis-signature'] as string | undefined;
    expect(verifyWebhookSignature(header, delivery?.body ?? '', SECRET, NOW_MS).ok).toBe(true);
    expect(JSON.parse(delivery?.body ?? '')).toEqual(event);
    expect(delivery?.headers['portcullis-webhook-id']).toBe('evt_1');
  });

  it('gives up after maxAttempts', async () => {
    const hook = await receiver([503]);
    const { timers } = immediateTimers();
    const sender = createWebhookSender(
      { clock: createManualClock(NOW_MS), timers },
      { ...options, maxAttempts: 3, endpoints: [{ id: 'wh_1', url: hook.url, secret: SECRET }] },
    );
    sender.send(event);
    await sender.idle();
    expect([hook.received.length, sender.stats().failed]).toEqual([3, 1]);
  });

  it('does not retry a receiver that refuses the delivery with 400', async () => {
    const hook = await receiver([400]);
    const { timers } = immediateTimers();
    const sender = createWebhookSender(
      { clock: createManualClock(NOW_MS), timers },
      { ...options, endpoints: [{ id: 'wh_1', url: hook.url, secret: SECRET }] },
    );
    sender.send(event);
    await sender.idle();
    expect([hook.received.length, sender.stats().failed]).toEqual([1, 1]);
  });

  it('retries when the receiver cannot be reached', async () => {
    const hook = await receiver([200]);
    const dead = 'http://127.0.0.1:1/hook';
    const { timers } = immediateTimers();
    const outcomes: string[] = [];
    const sender = createWebhookSender(
      { clock: createManualClock(NOW_MS), timers, onOutcome: (o) => outcomes.push(o) },
      { ...options, maxAttempts: 2, endpoints: [{ id: 'wh_1', url: dead, secret: SECRET }] },
    );
    sender.send(event);
    await sender.idle();
    expect(outcomes).toEqual(['retried', 'failed']);
    expect(hook.received).toHaveLength(0);
  });

  it('drops deliveries beyond maxQueued', () => {
    const never = () => new Promise<Response>(() => undefined);
    const { timers } = immediateTimers();
    const sender = createWebhookSender(
      { clock: createManualClock(NOW_MS), timers, fetch: never },
      { ...options, maxQueued: 2, endpoints: [{ id: 'wh_1', url: 'http://x', secret: SECRET }] },
    );
    const accepted = [1, 2, 3].map((i) => sender.send({ ...event, id: `evt_${i}` }));
    expect(accepted).toEqual([true, true, false]);
    expect(sender.stats()).toMatchObject({ queued: 2, dropped: 1 });
  });
});
