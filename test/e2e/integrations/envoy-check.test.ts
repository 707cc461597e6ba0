/**
 * The Envoy `ext_authz` HTTP service contract at the HTTP level (docs/integrations.md): check
 * requests shaped as Envoy sends them — `path_prefix` + the original path and query, the original
 * method, the allowed original headers plus Envoy's own (`x-envoy-*`, `x-forwarded-for`,
 * `x-request-id`), and with `with_request_body` the body and `x-envoy-auth-partial-body`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKey, nativeHeaders, startGateway, type Gateway } from './helpers.js';

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startGateway({ limits: { enabled: false } });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
});

/** What Envoy sends for an original request (`host` is the original :authority). */
function envoyCheck(
  method: string,
  target: string,
  headers: Record<string, string>,
  body?: string,
  extra: Record<string, string> = {},
) {
  return fetch(`${gateway.checkUrl}/envoy/sandbox${target}`, {
    method,
    headers: {
      ...headers,
      host: 'api.venue.test',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-envoy-internal': 'true',
      'x-envoy-expected-rq-timeout-ms': '500',
      'x-request-id': randomBytes(8).toString('hex'),
      ...(body === undefined ? {} : { 'x-envoy-auth-partial-body': 'false' }),
      ...extra,
    },
    ...(body === undefined ? {} : { body }),
  });
}

const order = () =>
  JSON.stringify({
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'limit',
    quantity: '0.01',
    price: '100.00',
    clientOrderId: `env-${randomBytes(4).toString('hex')}`,
  });

describe('Envoy ext_authz HTTP service', () => {
  it('allows a signed GET with a query: 200 and the identity headers', async () => {
    const key = await newKey(gateway.runtime);
    const target = '/api/v1/orders?symbol=BTCUSDT';
    const headers = nativeHeaders(key, 'GET', target, '', { host: 'api.venue.test' });
    const response = await envoyCheck('GET', target, headers);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-portcullis-key-id')).toBe(key.id);
    expect(response.headers.get('x-portcullis-account-id')).toBe(key.accountId);
    expect(response.headers.get('x-portcullis-environment')).toBe('sandbox');
    expect(response.headers.get('x-portcullis-scopes')).toBe('read,trade');
    expect(response.headers.get('x-request-id')).toMatch(/\S/);
  });

  it('verifies a body-signed POST over the body Envoy buffered (with_request_body)', async () => {
    const key = await newKey(gateway.runtime);
    const body = order();
    const response = await envoyCheck(
      'POST',
      '/api/v1/orders',
      nativeHeaders(key, 'POST', '/api/v1/orders', body),
      body,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('x-portcullis-key-id')).toBe(key.id);
  });

  it('refuses a body changed after signing: 401 DIGEST_MISMATCH with the native body', async () => {
    const key = await newKey(gateway.runtime);
    const body = order();
    const response = await envoyCheck(
      'POST',
      '/api/v1/orders',
      nativeHeaders(key, 'POST', '/api/v1/orders', body),
      body.replace('0.01', '9.99'),
    );
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'DIGEST_MISMATCH',
    );
  });

  it('refuses a body Envoy cut short (allow_partial_message): 403 BODY_NOT_VISIBLE', async () => {
    const key = await newKey(gateway.runtime);
    const body = order();
    const response = await envoyCheck(
      'POST',
      '/api/v1/orders',
      nativeHeaders(key, 'POST', '/api/v1/orders', body),
      body.slice(0, 20),
      { 'x-envoy-auth-partial-body': 'true' },
    );
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'BODY_NOT_VISIBLE',
    );
  });

  it('answers a denial with its own status and body: 403 SCOPE_MISSING', async () => {
    const key = await newKey(gateway.runtime, { scopes: ['read'] });
    const body = order();
    const response = await envoyCheck(
      'POST',
      '/api/v1/orders',
      nativeHeaders(key, 'POST', '/api/v1/orders', body),
      body,
    );
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'SCOPE_MISSING',
    );
  });

  it('refuses a check request without X-Forwarded-For: 400 BAD_REQUEST', async () => {
    const key = await newKey(gateway.runtime);
    const response = await fetch(`${gateway.checkUrl}/envoy/sandbox/api/v1/account`, {
      headers: nativeHeaders(key, 'GET', '/api/v1/account'),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
  });

  it('knows only the enabled environments', async () => {
    const response = await fetch(`${gateway.checkUrl}/envoy/production/api/v1/account`, {
      headers: { 'x-forwarded-for': '127.0.0.1' },
    });
    expect(response.status).toBe(404);
  });
});
