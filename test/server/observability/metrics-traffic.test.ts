/**
 * Metrics and the traffic log through a real runtime: /metrics scraped from the admin listener
 * after real requests (documented series, environment labels, token rule), and the traffic log
 * queried through the admin API, sandbox and production kept apart.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { limitSubject } from '../../../src/app/observability.js';
import { admin, newKey, send, startGateway, type Gateway } from './gateway.js';

const open: Gateway[] = [];
async function gateway(extra: Record<string, unknown> = {}): Promise<Gateway> {
  const g = await startGateway(extra);
  open.push(g);
  return g;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
});

describe('GET /metrics', () => {
  it('exposes the documented series with environment labels after real requests', async () => {
    const g = await gateway();
    const sandbox = await newKey(g);
    const production = await newKey(g, { environment: 'production' });
    expect((await send(g, sandbox)).status).toBe(200);
    expect((await send(g, sandbox, 'balance', { secret: 'wrong' })).code).toBe('SIGNATURE_INVALID');
    expect((await send(g, production)).status).toBe(200);
    await g.settle();
    const scraped = await admin(g, 'GET', '/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.contentType).toContain('text/plain');
    const text = scraped.text;
    for (const series of [
      'portcullis_decisions_total{outcome="allow",reason="none",dialect="native",environment="sandbox"} 1',
      'portcullis_decisions_total{outcome="deny",reason="SIGNATURE_INVALID",dialect="native",environment="sandbox"} 1',
      'portcullis_decisions_total{outcome="allow",reason="none",dialect="native",environment="production"} 1',
      'portcullis_pipeline_seconds_count{route="balance.read",environment="sandbox"} 2',
      'portcullis_upstream_seconds_count{route="balance.read",environment="production"} 1',
      'portcullis_request_seconds_count{route="balance.read",environment="sandbox"} 2',
      'portcullis_key_cache_hit_ratio{environment="sandbox"}',
      'portcullis_key_cache_entries{environment="production"}',
    ]) {
      expect(text).toContain(series);
    }
    for (const name of [
      'portcullis_rate_limited_total',
      'portcullis_bans_total',
      'portcullis_traffic_log_written_total',
      'portcullis_risk_signals_total',
      'portcullis_webhook_deliveries_total',
    ]) {
      expect(text).toContain(`# TYPE ${name}`);
    }
  });

  it('counts rate-limit refusals by subject and the bans they lead to', async () => {
    const g = await startGateway(
      {},
      {
        sandbox: {
          limits: {
            perKey: [{ window: '1m', limit: 20 }],
            perAccount: [{ window: '1m', limit: 1000 }],
            bans: { refusalThreshold: 3 },
          },
        },
      },
    );
    open.push(g);
    const key = await newKey(g);
    // A balance read weighs 10: two pass, the next two are 429 (key), the third refusal bans.
    expect((await send(g, key)).status).toBe(200);
    expect((await send(g, key)).status).toBe(200);
    expect((await send(g, key)).code).toBe('RATE_LIMITED');
    expect((await send(g, key)).code).toBe('RATE_LIMITED');
    expect((await send(g, key)).code).toBe('IP_BANNED');
    await g.settle();
    const text = (await admin(g, 'GET', '/metrics')).text;
    expect(text).toContain('portcullis_rate_limited_total{subject="key",environment="sandbox"} 2');
    expect(text).toContain('portcullis_bans_total{environment="sandbox"} 1');
    expect(text).not.toContain('portcullis_bans_total{environment="production"}');
  });

  it('needs an admin token with audit:read by default', async () => {
    const g = await gateway();
    expect((await admin(g, 'GET', '/metrics', null)).body).toMatchObject({
      error: { code: 'ADMIN_TOKEN_MISSING' },
    });
  });

  it('is served without a token with admin.metricsPublic', async () => {
    const g = await gateway({
      admin: { listen: { host: '127.0.0.1', port: 0 }, metricsPublic: true },
    });
    expect((await admin(g, 'GET', '/metrics', null)).status).toBe(200);
  });
});

describe('limitSubject', () => {
  it.each([
    ['key-1m', 'key'],
    ['acct-1m', 'account'],
    ['ip-1s', 'ip'],
    ['orders-10s', 'order'],
    ['auth-fail-1m', 'ip'],
    [undefined, 'ip'],
  ] as const)('%s is counted under %s', (rule, subject) => {
    expect(limitSubject(rule)).toBe(subject);
  });
});

describe('GET /v1/traffic', () => {
  it('returns each request with key, account, IP, action, decision, status and latencies', async () => {
    const g = await gateway();
    const key = await newKey(g);
    await send(g, key);
    await send(g, key, 'balance', { secret: 'wrong' });
    await g.settle();
    const { body } = await admin<{ records: Record<string, unknown>[] }>(
      g,
      'GET',
      `/v1/traffic?keyId=${key.id}&since=1h`,
    );
    expect(body.records).toHaveLength(2);
    expect(body.records[1]).toMatchObject({
      environment: 'sandbox',
      keyId: key.id,
      accountId: key.accountId,
      ip: '127.0.0.1',
      method: 'GET',
      action: 'balance.read',
      decision: 'allow',
      status: 200,
    });
    expect(body.records[1]?.totalMs).toBeTypeOf('number');
    expect(body.records[1]?.upstreamMs).toBeTypeOf('number');
    expect(body.records[0]).toMatchObject({ decision: 'deny', reason: 'SIGNATURE_INVALID' });
  });

  it('records the authorization server calls too (token issued, token refused)', async () => {
    const g = await gateway();
    const key = await newKey(g);
    const token = async (secret: string) => {
      const body = 'grant_type=client_credentials';
      const headers = signNativeRequest({
        method: 'POST',
        path: '/oauth/token',
        rawQuery: null,
        body,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        keyId: key.id,
        secret,
        createdSeconds: Math.floor(g.clock.now() / 1000),
        nonce: randomBytes(12).toString('base64url'),
      });
      const response = await fetch(`${g.urls.sandbox}/oauth/token`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      await response.arrayBuffer();
      return response.status;
    };
    expect(await token(key.secret)).toBe(200);
    expect(await token('psk_wrong_secret')).toBe(401);
    await g.settle();
    const { body } = await admin<{ records: Record<string, unknown>[] }>(
      g,
      'GET',
      `/v1/traffic?keyId=${key.id}&since=1h`,
    );
    expect(body.records).toHaveLength(2);
    expect(body.records[1]).toMatchObject({
      keyId: key.id,
      method: 'POST',
      action: 'oauth.token',
      decision: 'allow',
      status: 200,
    });
    expect(body.records[0]).toMatchObject({
      action: 'oauth.token',
      decision: 'deny',
      reason: 'SIGNATURE_INVALID',
      status: 401,
    });
  });

  it('keeps sandbox and production apart with the environment filter', async () => {
    const g = await gateway();
    await send(g, await newKey(g));
    await send(g, await newKey(g, { environment: 'production' }));
    await g.settle();
    const list = async (environment: string) =>
      (
        await admin<{ records: { environment: string }[] }>(
          g,
          'GET',
          `/v1/traffic?environment=${environment}`,
        )
      ).body.records.map((r) => r.environment);
    expect(await list('sandbox')).toEqual(['sandbox']);
    expect(await list('production')).toEqual(['production']);
  });

  it('filters by reason and by time (since)', async () => {
    const g = await gateway();
    const key = await newKey(g);
    await send(g, key, 'balance', { secret: 'wrong' });
    await g.settle();
    g.clock.advance(2 * 3_600_000);
    await send(g, key);
    await g.settle();
    const recent = await admin<{ records: unknown[] }>(g, 'GET', '/v1/traffic?since=1h');
    expect(recent.body.records).toHaveLength(1);
    const denied = await admin<{ records: unknown[] }>(
      g,
      'GET',
      '/v1/traffic?since=3h&reason=SIGNATURE_INVALID',
    );
    expect(denied.body.records).toHaveLength(1);
  });
});
