import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { isPortcullisError } from '../../src/core/errors.js';
import { buildSandboxExchange } from '../../src/sandbox/build-sandbox-exchange.js';
import { SANDBOX_ROUTES } from '../../src/sandbox/routes.js';
import { createHarness, json } from './sandbox-harness.js';

const TOKEN = 'upstream-token-0123456789abcdef';

/** The error code inside whichever envelope the dialect uses. */
function envelopeCode(response: LightMyRequestResponse): unknown {
  const body = json(response);
  return body.error?.code ?? body.retCode ?? body.code;
}

const PRIVATE_ROUTES = SANDBOX_ROUTES.filter((route) => route.scope !== null);
const PUBLIC_ROUTES = SANDBOX_ROUTES.filter((route) => route.scope === null);
const EXPECTED_IDENTITY_CODE = {
  native: 'IDENTITY_MISSING',
  binance: -2015,
  bybit: 10003,
  okx: '50111',
} as const;

describe('sandbox identity and upstream token', () => {
  it.each(PRIVATE_ROUTES)(
    'answers 401 in the $dialect envelope for $method $path without an account',
    async (route) => {
      const url = route.path.replace(':id', 'ord_1');
      const response = await createHarness().call({ method: route.method, url, account: null });
      expect(response.statusCode).toBe(401);
      expect(envelopeCode(response)).toBe(EXPECTED_IDENTITY_CODE[route.dialect]);
    },
  );

  it('answers 401 for a malformed account header', async () => {
    const response = await createHarness().call({
      method: 'GET',
      url: '/api/v1/balances',
      account: 'acc 1; drop',
    });
    expect(json(response).error.code).toBe('IDENTITY_MISSING');
  });

  it.each(PUBLIC_ROUTES)('serves public $method $path without identity', async (route) => {
    const response = await createHarness().call({
      method: route.method,
      url: route.path,
      account: null,
    });
    expect(response.statusCode).toBe(200);
  });

  it('refuses a request without the upstream token when one is configured', async () => {
    const harness = createHarness({ upstreamToken: TOKEN });
    const response = await harness.call({ method: 'GET', url: '/api/v1/balances' });
    expect(response.statusCode).toBe(401);
    expect(json(response).error.code).toBe('UPSTREAM_TOKEN_INVALID');
  });

  it('refuses a wrong upstream token', async () => {
    const harness = createHarness({ upstreamToken: TOKEN });
    const response = await harness.call({
      method: 'GET',
      url: '/api/v1/time',
      headers: { 'x-portcullis-upstream-token': `${TOKEN}x` },
    });
    expect(json(response).error.code).toBe('UPSTREAM_TOKEN_INVALID');
  });

  it('checks the upstream token on public routes too', async () => {
    const harness = createHarness({ upstreamToken: TOKEN });
    const response = await harness.call({ method: 'GET', url: '/api/v3/time' });
    expect(response.statusCode).toBe(401);
    expect(json(response).code).toBe(-2015);
  });

  it('checks the upstream token before revealing unknown paths', async () => {
    const harness = createHarness({ upstreamToken: TOKEN });
    const response = await harness.call({ method: 'GET', url: '/api/v1/nothing-here' });
    expect(json(response).error.code).toBe('UPSTREAM_TOKEN_INVALID');
  });

  it('serves a request with the right upstream token', async () => {
    const harness = createHarness({ upstreamToken: TOKEN });
    const response = await harness.call({
      method: 'GET',
      url: '/api/v1/balances',
      headers: { 'x-portcullis-upstream-token': TOKEN },
    });
    expect(response.statusCode).toBe(200);
  });

  it('refuses a short upstream token at build time', () => {
    let caught: unknown;
    try {
      buildSandboxExchange({ upstreamToken: 'short' });
    } catch (error) {
      caught = error;
    }
    expect(isPortcullisError(caught) && caught.code).toBe('CONFIG_INVALID');
  });
});
