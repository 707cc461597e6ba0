import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SANDBOX_ERROR_CATALOG } from '../../src/sandbox/sandbox-fault.js';
import { createHarness, json } from './sandbox-harness.js';

const ORDER = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: '0.1', price: '40000' };
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('native sandbox routes refuse bad input with a stable code', () => {
  it.each([
    ['a missing symbol', { ...ORDER, symbol: undefined }, 'VALIDATION_FAILED'],
    ['an unknown symbol', { ...ORDER, symbol: 'DOGEUSDT' }, 'UNKNOWN_SYMBOL'],
    ['a lower-case symbol', { ...ORDER, symbol: 'btcusdt' }, 'UNKNOWN_SYMBOL'],
    ['a bad side', { ...ORDER, side: 'BUY' }, 'VALIDATION_FAILED'],
    ['a bad type', { ...ORDER, type: 'stop' }, 'VALIDATION_FAILED'],
    ['a numeric quantity', { ...ORDER, quantity: 0.1 }, 'VALIDATION_FAILED'],
    ['a zero quantity', { ...ORDER, quantity: '0' }, 'VALIDATION_FAILED'],
    ['an exponent quantity', { ...ORDER, quantity: '1e-3' }, 'VALIDATION_FAILED'],
    ['nine decimal places', { ...ORDER, quantity: '0.000000001' }, 'VALIDATION_FAILED'],
    ['a limit order without price', { ...ORDER, price: undefined }, 'VALIDATION_FAILED'],
    ['a market order with a price', { ...ORDER, type: 'market' }, 'VALIDATION_FAILED'],
    ['an unknown field', { ...ORDER, leverage: '10' }, 'UNKNOWN_FIELD'],
    ['a bad clientOrderId', { ...ORDER, clientOrderId: 'has space' }, 'VALIDATION_FAILED'],
    ['an object as symbol', { ...ORDER, symbol: { $ne: 1 } }, 'VALIDATION_FAILED'],
    ['an array body', [ORDER], 'VALIDATION_FAILED'],
  ])('POST /api/v1/orders with %s', async (_case, payload, code) => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v1/orders',
      payload,
    });
    expect(response.statusCode).toBe(400);
    expect(json(response).error).toMatchObject({ code, requestId: 'req_test' });
  });

  it.each([
    ['malformed JSON', '{"symbol":', 'MALFORMED_JSON', 400],
    ['an empty JSON body', '', 'MALFORMED_JSON', 400],
    ['a JSON null', 'null', 'VALIDATION_FAILED', 400],
    ['a prototype-poisoning body', '{"__proto__":{"x":1}}', 'MALFORMED_JSON', 400],
  ])('POST /api/v1/orders with %s', async (_case, payload, code, status) => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v1/orders',
      headers: JSON_HEADERS,
      payload,
    });
    expect(response.statusCode).toBe(status);
    expect(json(response).error.code).toBe(code);
  });

  it('refuses a form body on a native route', async () => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v1/orders',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'symbol=BTCUSDT',
    });
    expect(response.statusCode).toBe(415);
    expect(json(response).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses a body over the limit', async () => {
    const response = await createHarness({ bodyLimitBytes: 1024 }).call({
      method: 'POST',
      url: '/api/v1/orders',
      payload: { ...ORDER, padding: 'x'.repeat(2048) },
    });
    expect(response.statusCode).toBe(413);
    expect(json(response).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it.each([
    ['a malformed order id', '/api/v1/orders/123', 'VALIDATION_FAILED'],
    ['an unknown order id', '/api/v1/orders/ord_99', 'ORDER_NOT_FOUND'],
  ])('DELETE with %s', async (_case, url, code) => {
    const response = await createHarness().call({ method: 'DELETE', url });
    expect(json(response).error.code).toBe(code);
  });

  it.each([
    [
      'a repeated query parameter',
      '/api/v1/orders?symbol=BTCUSDT&symbol=ETHUSDT',
      'DUPLICATE_PARAMETER',
    ],
    ['an unknown query parameter', '/api/v1/orders?limit=5', 'UNKNOWN_FIELD'],
    ['a query on a route without one', '/api/v1/balances?x=1', 'UNKNOWN_FIELD'],
    ['an unknown path', '/api/v1/nothing', 'NOT_FOUND'],
  ])('GET with %s', async (_case, url, code) => {
    const response = await createHarness().call({ method: 'GET', url });
    expect(json(response).error.code).toBe(code);
  });

  it.each([
    ['a lower-case asset', { asset: 'btc', amount: '1', address: 'bc1qexample' }],
    ['a short address', { asset: 'BTC', amount: '1', address: 'ab' }],
    ['a missing amount', { asset: 'BTC', address: 'bc1qexample' }],
  ])('POST /api/v1/withdrawals with %s', async (_case, payload) => {
    const response = await createHarness().call({
      method: 'POST',
      url: '/api/v1/withdrawals',
      payload,
    });
    expect(json(response).error.code).toBe('VALIDATION_FAILED');
  });

  it('never answers 5xx to arbitrary JSON order bodies', async () => {
    const harness = createHarness();
    const field = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean());
    const body = fc.dictionary(
      fc.constantFrom('symbol', 'side', 'type', 'quantity', 'price', 'clientOrderId', 'x'),
      field,
    );
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const response = await harness.call({ method: 'POST', url: '/api/v1/orders', payload });
        const code = json(response).error?.code as keyof typeof SANDBOX_ERROR_CATALOG | undefined;
        expect(response.statusCode).toBeLessThan(500);
        if (code !== undefined)
          expect(SANDBOX_ERROR_CATALOG[code].status).toBe(response.statusCode);
      }),
      { numRuns: 300 },
    );
  });

  it('never answers 5xx to arbitrary query strings', async () => {
    const harness = createHarness();
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary-ascii', maxLength: 60 }), async (query) => {
        const url = `/api/v3/openOrders?${encodeURI(query).replaceAll('#', '%23')}`;
        const response = await harness.call({ method: 'GET', url });
        expect(response.statusCode).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
  });
});
