/**
 * Key governance and alert webhooks through a real runtime: the governance job steps down an
 * old or unrestricted key and disables a dormant one at the right time (injected clock), the
 * report lists keys before their deadline; an alert reaches a real receiver signed, and a
 * receiver that fails first is retried.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../../src/services/webhooks.js';
import { admin, newKey, send, startGateway, type Gateway } from './gateway.js';

const DAY = 86_400_000;
const open: Gateway[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => s.close(() => resolve(undefined)))),
  );
});

async function gateway(extra: Record<string, unknown> = {}): Promise<Gateway> {
  const g = await startGateway({ keyGovernance: { interval: '1h' }, ...extra });
  open.push(g);
  return g;
}

describe('key governance job', () => {
  it('removes withdraw from an unrestricted production key at once, trade after 30 days', async () => {
    const g = await gateway();
    const key = await newKey(g, { environment: 'production' });
    await g.runtime.observability.governance.run();
    expect((await send(g, key, 'withdraw')).code).toBe('SCOPE_MISSING');
    expect((await send(g, key, 'order')).status).toBe(201);
    g.clock.advance(29 * DAY);
    await g.runtime.observability.governance.run();
    expect((await send(g, key, 'order')).status).toBe(201);
    g.clock.advance(1 * DAY + 1);
    await g.runtime.observability.governance.run();
    expect((await send(g, key, 'order')).code).toBe('SCOPE_MISSING');
    expect((await send(g, key, 'balance')).status).toBe(200);
  });

  it('steps an IP-restricted key down to read at its maximum age (365 days)', async () => {
    // Dormancy off here: this key is judged on its age alone.
    const g = await startGateway({}, { production: { keyGovernance: { dormantAfter: null } } });
    open.push(g);
    const key = await newKey(g, {
      environment: 'production',
      scopes: ['read', 'trade'],
      ipAllowlist: ['127.0.0.1/32'],
    });
    g.clock.advance(364 * DAY);
    await g.runtime.observability.governance.run();
    expect((await send(g, key, 'order')).status).toBe(201);
    g.clock.advance(DAY);
    await g.runtime.observability.governance.run();
    expect((await send(g, key, 'order')).code).toBe('SCOPE_MISSING');
    const audit = await g.runtime.audit.list({ limit: 1000 });
    expect(audit.some((e) => e.action === 'key.update' && e.actor === 'system:governance')).toBe(
      true,
    );
  });

  it('disables a dormant key (unused 90 days in production), reversible by an operator', async () => {
    const g = await gateway();
    const key = await newKey(g, {
      environment: 'production',
      scopes: ['read'],
      ipAllowlist: ['127.0.0.1/32'],
    });
    g.clock.advance(90 * DAY - 1);
    await g.runtime.observability.governance.run();
    expect(g.runtime.observability.risk.riskLevelOf(key.id)).toBe('normal');
    g.clock.advance(1);
    await g.runtime.observability.governance.run();
    expect((await send(g, key, 'balance')).code).toBe('KEY_DISABLED');
    const risk = await admin<{ responses: { reason: string }[] }>(
      g,
      'GET',
      `/v1/keys/${key.id}/risk`,
    );
    expect(risk.body.responses.map((r) => r.reason)).toEqual(['KEY_DORMANT']);
    await admin(g, 'POST', `/v1/keys/${key.id}/risk/reset`);
    expect((await send(g, key, 'balance')).status).toBe(200);
  });

  it('lists keys that will break the policy soon in GET /v1/keys/report, per environment', async () => {
    const g = await gateway();
    const key = await newKey(g, {
      environment: 'production',
      scopes: ['read', 'trade'],
    });
    await newKey(g, { environment: 'sandbox', scopes: ['read'] });
    g.clock.advance(20 * DAY);
    const report = await admin<{
      rows: { keyId: string; environment: string; findings: { code: string }[] }[];
      totals: Record<string, { warned: number; breached: number }>;
    }>(g, 'GET', '/v1/keys/report');
    expect(report.body.rows.map((r) => [r.keyId, r.findings.map((f) => f.code)])).toEqual([
      [key.id, ['UNRESTRICTED_SCOPES_EXPIRING']],
    ]);
    expect(report.body.totals.production).toEqual({ breached: 0, warned: 1 });
    expect(report.body.totals.sandbox).toEqual({ breached: 0, warned: 0 });
  });
});

interface Delivery {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A receiver answering the given statuses in turn; resolves `next()` per delivery. */
async function receiver(statuses: number[]) {
  const deliveries: Delivery[] = [];
  let wake: (() => void) | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = statuses[deliveries.length - 1] ?? 200;
      res.end();
      wake?.();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    deliveries,
    async waitFor(n: number): Promise<void> {
      while (deliveries.length < n) await new Promise<void>((resolve) => (wake = resolve));
    },
  };
}

describe('alert webhooks', () => {
  const secret = 'whsec_0123456789abcdef';

  it('delivers an alert signed, and retries a receiver that failed', async () => {
    const hook = await receiver([500, 200]);
    const g = await gateway({ alerts: { webhooks: [{ url: hook.url, secret }] } });
    const key = await newKey(g);
    await send(g, key, 'withdraw'); // first_sensitive_action → alert (key and account)
    await g.settle();
    await hook.waitFor(3);
    const first = hook.deliveries[0];
    const retried = hook.deliveries.find(
      (d, i) =>
        i > 0 && d.headers['portcullis-webhook-id'] === first?.headers['portcullis-webhook-id'],
    );
    expect(retried).toBeDefined();
    for (const d of hook.deliveries) {
      const verdict = verifyWebhookSignature(
        d.headers['portcullis-signature'] as string,
        d.body,
        secret,
        g.clock.now(),
      );
      expect(verdict.ok).toBe(true);
      expect(JSON.parse(d.body)).toMatchObject({
        type: 'alert.raised',
        data: { signal: 'first_sensitive_action', environment: 'sandbox', state: 'open' },
      });
    }
    expect(
      verifyWebhookSignature(
        first?.headers['portcullis-signature'] as string,
        first?.body ?? '',
        'another-secret-000',
        g.clock.now(),
      ),
    ).toEqual({ ok: false, reason: 'SIGNATURE_MISMATCH' });
  });
});
