/**
 * A real nginx with `auth_request` to Portcullis' check listener in front of the sandbox
 * exchange (docs/integrations.md): signed GETs reach the sandbox with the identity nginx took
 * from the check; bad signatures, scope and IP denials, rate limits and the body rule come back
 * to the client with the status, headers and body the proxy itself would answer.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBinance } from '../../../src/core/signing/dialects/exchange-signers.js';
import {
  startSandboxExchange,
  type RunningSandbox,
} from '../../../src/sandbox/start-sandbox-exchange.js';
import {
  newKey,
  nativeHeaders,
  startGateway,
  startNginx,
  type Gateway,
  type RunningNginx,
} from './helpers.js';

const LIMITS = {
  enabled: true,
  // Three balance reads (weight 10) a minute per key; the rest generous.
  perKey: [{ window: '1m', limit: 30 }],
  perAccount: [{ window: '1m', limit: 100000 }],
  perIp: [{ window: '1m', limit: 100000 }],
  authFailures: [{ window: '1m', limit: 1000 }],
};

let gateway: Gateway;
let sandbox: RunningSandbox;
let nginx: RunningNginx;
const upstreamToken = randomBytes(24).toString('base64url');

beforeAll(async () => {
  gateway = await startGateway({ limits: LIMITS });
  sandbox = await startSandboxExchange({ upstreamToken });
  nginx = await startNginx({
    checkUrl: gateway.checkUrl,
    engineUrl: sandbox.url,
    proxyUrl: gateway.proxyUrl,
    upstreamToken,
  });
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  await sandbox?.close();
  await gateway?.close();
});

async function get(target: string, headers: Record<string, string>) {
  const response = await fetch(`${nginx.url}${target}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: safeJson(text) };
}

function safeJson(
  text: string,
): { error?: { code?: string }; code?: number } & Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, never>;
  } catch {
    return {};
  }
}

describe('nginx auth_request → Portcullis check', () => {
  it('lets a signed GET through to the sandbox with the identity the check gave', async () => {
    const key = await newKey(gateway.runtime);
    const answer = await get('/api/v1/account', {
      ...nativeHeaders(key, 'GET', '/api/v1/account'),
      // A forged identity is replaced by nginx with the check's.
      'x-portcullis-account': 'acc_forged',
    });
    expect(answer.status, nginx.errorLog()).toBe(200);
    expect(JSON.stringify(answer.json)).toContain(key.accountId);
    expect(answer.text).not.toContain('acc_forged');
  });

  it('answers a bad signature 401 SIGNATURE_INVALID in the native envelope', async () => {
    const key = await newKey(gateway.runtime);
    const answer = await get(
      '/api/v1/balances',
      nativeHeaders(key, 'GET', '/api/v1/balances', '', { secret: 'psk_wrong' }),
    );
    expect(answer.status).toBe(401);
    expect(answer.json.error?.code).toBe('SIGNATURE_INVALID');
    expect(answer.headers.get('x-request-id')).toMatch(/\S/);
  });

  it('answers a Binance client in its own dialect (-1022, 400)', async () => {
    const key = await newKey(gateway.runtime);
    const signed = signBinance(
      { apiKey: key.id, secret: 'not-the-secret' },
      { params: '', timestampMs: Date.now(), placement: 'query' },
    );
    const answer = await get(`/api/v3/account?${signed.rawQuery ?? ''}`, signed.headers);
    expect(answer.status).toBe(400);
    expect(answer.json.code).toBe(-1022);
  });

  it('answers a missing scope 403 SCOPE_MISSING', async () => {
    const key = await newKey(gateway.runtime, { scopes: ['trade'] });
    const answer = await get('/api/v1/balances', nativeHeaders(key, 'GET', '/api/v1/balances'));
    expect(answer.status).toBe(403);
    expect(answer.json.error?.code).toBe('SCOPE_MISSING');
  });

  it('answers an address off the allowlist 403 IP_NOT_ALLOWED (the client address nginx saw)', async () => {
    const key = await newKey(gateway.runtime, { ipAllowlist: ['10.0.0.0/8'] });
    const answer = await get('/api/v1/balances', nativeHeaders(key, 'GET', '/api/v1/balances'));
    expect(answer.status).toBe(403);
    expect(answer.json.error?.code).toBe('IP_NOT_ALLOWED');
  });

  it('counts rate limits: the fourth balance read in a minute is 429 RATE_LIMITED with Retry-After', async () => {
    const key = await newKey(gateway.runtime);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const ok = await get('/api/v1/balances', nativeHeaders(key, 'GET', '/api/v1/balances'));
      statuses.push(ok.status);
    }
    expect(statuses).toEqual([200, 200, 200]);
    const limited = await get('/api/v1/balances', nativeHeaders(key, 'GET', '/api/v1/balances'));
    expect(limited.status).toBe(429);
    expect(limited.json.error?.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('refuses a replayed request (the check shares the replay guard)', async () => {
    const key = await newKey(gateway.runtime);
    const headers = nativeHeaders(key, 'GET', '/api/v1/account');
    expect((await get('/api/v1/account', headers)).status).toBe(200);
    const again = await get('/api/v1/account', headers);
    expect(again.status).toBe(401);
    expect(again.json.error?.code).toBe('NONCE_REPLAYED');
  });

  it('sends a request with a body through the full proxy, which verifies the body', async () => {
    const key = await newKey(gateway.runtime);
    const body = JSON.stringify({
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      quantity: '0.01',
      price: '100.00',
      clientOrderId: `ngx-${randomBytes(4).toString('hex')}`,
    });
    const headers = nativeHeaders(key, 'POST', '/api/v1/orders', body);
    const ok = await fetch(`${nginx.url}/api/v1/orders`, { method: 'POST', headers, body });
    expect(ok.status, await ok.clone().text()).toBeLessThan(300);
    // The same signature over different bytes: the proxy sees the body and refuses it.
    const tampered = await fetch(`${nginx.url}/api/v1/orders`, {
      method: 'POST',
      headers: nativeHeaders(key, 'POST', '/api/v1/orders', body),
      body: body.replace('0.01', '9.99'),
    });
    expect(tampered.status).toBe(401);
    expect(((await tampered.json()) as { error: { code: string } }).error.code).toBe(
      'DIGEST_MISMATCH',
    );
  });
});

describe('the nginx check endpoint itself', () => {
  const check = (headers: Record<string, string>) =>
    fetch(`${gateway.checkUrl}/nginx/sandbox`, { headers });

  it('refuses a request that carries a body it cannot see: BODY_NOT_VISIBLE', async () => {
    const key = await newKey(gateway.runtime);
    const response = await check({
      ...nativeHeaders(key, 'POST', '/api/v1/orders', '{"symbol":"BTCUSDT"}'),
      'x-original-method': 'POST',
      'x-original-uri': '/api/v1/orders',
      'x-original-content-length': '20',
      'x-forwarded-for': '127.0.0.1',
    });
    expect(response.status).toBe(403);
    const sealed = response.headers.get('x-portcullis-denial');
    expect(sealed).toMatch(/\./);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'BODY_NOT_VISIBLE',
    );
  });

  it('refuses everything when nginx does not say whether there is a body', async () => {
    const key = await newKey(gateway.runtime);
    const response = await check({
      ...nativeHeaders(key, 'GET', '/api/v1/account'),
      'x-original-method': 'GET',
      'x-original-uri': '/api/v1/account',
      'x-forwarded-for': '127.0.0.1',
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'BODY_NOT_VISIBLE',
    );
  });

  it('renders only denials it sealed itself', async () => {
    const forged = await fetch(`${gateway.checkUrl}/nginx/render`, {
      headers: { 'x-portcullis-denial': 'eyJzIjoyMDB9.AAAA' },
    });
    expect(forged.status).toBe(404);
  });
});

describe('the benchmark baseline (nginx alone, no auth_request)', () => {
  it('is a configuration nginx accepts and passes requests to the engine unchecked', async () => {
    // The baseline has no $portcullis_* variables; nginx refuses to start on an unknown one.
    const alone = await startNginx({
      checkUrl: gateway.checkUrl,
      engineUrl: sandbox.url,
      upstreamToken,
      noCheck: true,
    });
    try {
      const response = await fetch(`${alone.url}/api/v1/time`);
      expect(response.status).toBe(200);
    } finally {
      await alone.stop();
    }
  });
});
