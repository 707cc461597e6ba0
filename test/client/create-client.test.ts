import { describe, expect, it } from 'vitest';
import { createClient, PortcullisApiError, type ClientOptions } from '../../src/client/index.js';
import {
  BASE_A,
  BASE_B,
  KEY_ID,
  SECRET,
  connectionError,
  createFakeFetch,
  createManualClock,
  createRecordingSleep,
  credentialOf,
  denial,
  ed25519Pair,
  hmacKey,
  ok,
  verifies,
  type RecordedCall,
  type Reply,
} from './fake-fetch.js';

const START_MS = 1_767_225_600_000;

/** A client with a manual clock, a recording sleep and a known offset (no initial sync). */
function setup(
  handler: (call: RecordedCall, index: number) => Reply,
  options: Partial<ClientOptions> = {},
) {
  const clock = createManualClock(START_MS);
  const fake = createFakeFetch(handler, clock);
  const { sleep, waits } = createRecordingSleep(clock);
  const client = createClient({
    baseUrls: [BASE_A],
    keyId: KEY_ID,
    ...(options.privateKey === undefined ? { secret: SECRET } : {}),
    fetch: fake.fetch,
    clock,
    sleep,
    timeOffsetMs: 0,
    ...options,
  });
  return { client, clock, fake, waits };
}

async function failure(promise: Promise<unknown>): Promise<PortcullisApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PortcullisApiError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('signing', () => {
  it('signs an HMAC request that the gateway verifier accepts', async () => {
    const { client, fake } = setup(() => ok());
    await client.post(
      '/api/v1/orders',
      { symbol: 'BTCUSDT', quantity: '0.1' },
      { query: 'test=1' },
    );
    const [call] = fake.calls;
    expect(verifies(call!, hmacKey)).toBe(true);
    expect(credentialOf(call!).components).toEqual([
      '@method',
      '@path',
      '@query',
      'content-type',
      'content-digest',
    ]);
  });

  it('sends exactly the JSON bytes it signed', async () => {
    const { client, fake } = setup(() => ok());
    await client.post('/api/v1/orders', { symbol: 'BTCUSDT', note: 'é"\\' });
    expect(fake.calls[0]!.body.toString('utf8')).toBe('{"symbol":"BTCUSDT","note":"é\\"\\\\"}');
    expect(verifies(fake.calls[0]!, hmacKey)).toBe(true);
  });

  it('signs an Ed25519 request given a PEM private key', async () => {
    const { privateKey, verifier } = ed25519Pair();
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const { client, fake } = setup(() => ok(), { privateKey: pem });
    await client.get('/api/v1/balances');
    expect(credentialOf(fake.calls[0]!).alg).toBe('ed25519');
    expect(verifies(fake.calls[0]!, verifier)).toBe(true);
  });

  it('covers a form-encoded query exactly as sent', async () => {
    const { client, fake } = setup(() => ok());
    await client.get('/api/v1/orders', { query: { symbol: 'BTC USDT', x: 'a&b' } });
    expect(fake.calls[0]!.url.search).toBe('?symbol=BTC+USDT&x=a%26b');
    expect(verifies(fake.calls[0]!, hmacKey)).toBe(true);
  });

  it('uses a fresh 128-bit nonce for every request', async () => {
    const { client, fake } = setup(() => ok());
    await client.get('/api/v1/balances');
    await client.get('/api/v1/balances');
    const [a, b] = fake.calls.map((c) => credentialOf(c).nonce);
    expect(a).not.toBe(b);
    expect(Buffer.from(a!, 'base64url')).toHaveLength(16);
  });

  it('refuses options with both a secret and a private key', () => {
    const { privateKey } = ed25519Pair();
    expect(() =>
      createClient({ baseUrls: [BASE_A], keyId: KEY_ID, secret: SECRET, privateKey }),
    ).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});

describe('time', () => {
  const serverAheadMs = 2_500;
  const timeReply = (call: RecordedCall, now: () => number): Reply =>
    call.url.pathname === '/api/v1/time' ? ok({ serverTime: now() + serverAheadMs }) : ok();

  it('learns the offset from the midpoint of the round trip', async () => {
    const clock = createManualClock(START_MS);
    // The server reads its clock after 100 ms of a 200 ms round trip.
    const fake = createFakeFetch(() => {
      clock.advance(100);
      const reply = ok({ serverTime: clock.now() + serverAheadMs });
      clock.advance(100);
      return reply;
    });
    const client = createClient({
      baseUrls: [BASE_A],
      keyId: KEY_ID,
      secret: SECRET,
      fetch: fake.fetch,
      clock,
    });
    expect(await client.syncTime()).toBe(serverAheadMs);
  });

  it('syncs before its first signed request and signs with the server time', async () => {
    const clock = createManualClock(START_MS);
    const fake = createFakeFetch((call) => timeReply(call, () => clock.now()));
    const client = createClient({
      baseUrls: [BASE_A],
      keyId: KEY_ID,
      secret: SECRET,
      fetch: fake.fetch,
      clock,
    });
    await client.get('/api/v1/balances');
    expect(fake.calls.map((c) => c.url.pathname)).toEqual(['/api/v1/time', '/api/v1/balances']);
    expect(credentialOf(fake.calls[1]!).createdSeconds).toBe(
      Math.floor((START_MS + serverAheadMs) / 1000),
    );
  });

  it('re-syncs once and retries once on TIMESTAMP_OUTSIDE_WINDOW, even for a plain POST', async () => {
    const clock = createManualClock(START_MS);
    let denied = 0;
    const fake = createFakeFetch((call) => {
      if (call.url.pathname === '/api/v1/time') return timeReply(call, () => clock.now());
      return denied++ === 0 ? denial(401, 'TIMESTAMP_OUTSIDE_WINDOW') : ok();
    });
    const client = createClient({
      baseUrls: [BASE_A],
      keyId: KEY_ID,
      secret: SECRET,
      fetch: fake.fetch,
      clock,
      timeOffsetMs: 0,
    });
    await client.post('/api/v1/withdrawals', { asset: 'BTC' });
    expect(fake.calls.map((c) => c.url.pathname)).toEqual([
      '/api/v1/withdrawals',
      '/api/v1/time',
      '/api/v1/withdrawals',
    ]);
    expect(client.timeOffsetMs()).toBe(serverAheadMs);
  });

  it('reports TIMESTAMP_OUTSIDE_WINDOW when the retry after the re-sync is denied too', async () => {
    const clock = createManualClock(START_MS);
    const fake = createFakeFetch((call) =>
      call.url.pathname === '/api/v1/time'
        ? timeReply(call, () => clock.now())
        : denial(401, 'TIMESTAMP_OUTSIDE_WINDOW'),
    );
    const client = createClient({
      baseUrls: [BASE_A],
      keyId: KEY_ID,
      secret: SECRET,
      fetch: fake.fetch,
      clock,
      timeOffsetMs: 0,
    });
    const error = await failure(client.get('/api/v1/balances'));
    expect(error.code).toBe('TIMESTAMP_OUTSIDE_WINDOW');
    expect(fake.signedCalls()).toHaveLength(2);
  });
});

describe('retries', () => {
  it('retries a GET on 429 after Retry-After seconds', async () => {
    const { client, fake, waits } = setup((_c, i) =>
      i === 0 ? denial(429, 'RATE_LIMITED', { 'retry-after': '2' }) : ok(),
    );
    const response = await client.get('/api/v1/balances');
    expect(response.status).toBe(200);
    expect(fake.calls).toHaveLength(2);
    expect(waits).toEqual([2_000]);
  });

  it('re-signs each retry with a new nonce and a new created', async () => {
    const { client, fake } = setup((_c, i) =>
      i === 0 ? denial(429, 'RATE_LIMITED', { 'retry-after': '3' }) : ok(),
    );
    await client.get('/api/v1/balances');
    const [first, second] = fake.calls.map(credentialOf);
    expect(second!.nonce).not.toBe(first!.nonce);
    expect(second!.createdSeconds).toBe(first!.createdSeconds + 3);
    expect(verifies(fake.calls[1]!, hmacKey)).toBe(true);
  });

  it('honours a Retry-After HTTP date against the server clock', async () => {
    const serverNowMs = START_MS + 10_000;
    const date = new Date(serverNowMs + 4_000).toUTCString();
    const { client, waits } = setup(
      (_c, i) =>
        i === 0 ? denial(503, 'REPLAY_CHECK_UNAVAILABLE', { 'retry-after': date }) : ok(),
      { timeOffsetMs: 10_000 },
    );
    await client.get('/api/v1/balances');
    expect(waits).toEqual([4_000]);
  });

  it('never retries a plain POST on 429', async () => {
    const { client, fake } = setup(() => denial(429, 'RATE_LIMITED', { 'retry-after': '1' }));
    const error = await failure(client.post('/api/v1/withdrawals', { asset: 'BTC' }));
    expect(error.code).toBe('RATE_LIMITED');
    expect(fake.calls).toHaveLength(1);
  });

  it('retries a POST carrying a clientOrderId on 503', async () => {
    const { client, fake } = setup((_c, i) =>
      i === 0 ? denial(503, 'REPLAY_CHECK_UNAVAILABLE', { 'retry-after': '1' }) : ok(),
    );
    await client.post('/api/v1/orders', { symbol: 'BTCUSDT', clientOrderId: 'c-1' });
    expect(fake.calls).toHaveLength(2);
  });

  it('retries a POST carrying an Idempotency-Key header, and covers the header', async () => {
    const { client, fake } = setup((_c, i) => (i === 0 ? denial(429, 'RATE_LIMITED') : ok()));
    await client.post('/api/v1/things', { a: 1 }, { headers: { 'Idempotency-Key': 'k-1' } });
    expect(fake.calls).toHaveLength(2);
    expect(credentialOf(fake.calls[1]!).components).toContain('idempotency-key');
  });

  it('backs off exponentially without Retry-After and stops after maxRetries', async () => {
    const { client, fake, waits } = setup(() => denial(429, 'RATE_LIMITED'), {
      maxRetries: 3,
      retryBaseDelayMs: 100,
    });
    const error = await failure(client.get('/api/v1/balances'));
    expect(error.code).toBe('RATE_LIMITED');
    expect(fake.calls).toHaveLength(4);
    expect(waits).toEqual([100, 200, 400]);
  });

  it('fails instead of retrying early when Retry-After exceeds the cap', async () => {
    const { client, fake, waits } = setup(
      () => denial(429, 'RATE_LIMITED', { 'retry-after': '120' }),
      { maxRetryDelayMs: 30_000 },
    );
    const error = await failure(client.get('/api/v1/balances'));
    expect(error.status).toBe(429);
    expect(fake.calls).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('does not retry other client errors', async () => {
    const { client, fake } = setup(() => denial(403, 'SCOPE_MISSING'));
    await failure(client.get('/api/v1/balances'));
    expect(fake.calls).toHaveLength(1);
  });
});

describe('fail-over', () => {
  const byHost =
    (replies: Record<string, Reply | ((i: number) => Reply)>) =>
    (call: RecordedCall, i: number): Reply => {
      const reply = replies[call.url.host];
      if (reply === undefined) throw new Error(`unexpected host ${call.url.host}`);
      return typeof reply === 'function' ? reply(i) : reply;
    };

  it('moves to the next URL on a refused connection and remembers it', async () => {
    const { client, fake, waits } = setup(
      byHost({
        'gw-a.test:8090': { throws: connectionError('ECONNREFUSED') },
        'gw-b.test:8090': ok(),
      }),
      { baseUrls: [BASE_A, BASE_B] },
    );
    await client.get('/api/v1/balances');
    await client.get('/api/v1/balances');
    expect(fake.calls.map((c) => c.url.host)).toEqual([
      'gw-a.test:8090',
      'gw-b.test:8090',
      'gw-b.test:8090',
    ]);
    expect(client.currentBaseUrl()).toBe(BASE_B);
    expect(waits).toEqual([]);
  });

  it('moves a GET to the next URL on 502, 503 and 504', async () => {
    for (const status of [502, 503, 504]) {
      const { client, fake } = setup(
        byHost({
          'gw-a.test:8090': denial(status, 'UPSTREAM_UNAVAILABLE'),
          'gw-b.test:8090': ok(),
        }),
        { baseUrls: [BASE_A, BASE_B] },
      );
      await client.get('/api/v1/balances');
      expect(fake.calls.map((c) => c.url.host)).toEqual(['gw-a.test:8090', 'gw-b.test:8090']);
    }
  });

  it('moves a plain POST only when the connection was refused', async () => {
    const { client, fake } = setup(
      byHost({
        'gw-a.test:8090': { throws: connectionError('ECONNREFUSED') },
        'gw-b.test:8090': ok(),
      }),
      { baseUrls: [BASE_A, BASE_B] },
    );
    await client.post('/api/v1/withdrawals', { asset: 'BTC' });
    expect(fake.calls.map((c) => c.url.host)).toEqual(['gw-a.test:8090', 'gw-b.test:8090']);
  });

  it('does not move a plain POST after a reset that may have followed delivery', async () => {
    const { client, fake } = setup(
      byHost({
        'gw-a.test:8090': { throws: connectionError('ECONNRESET') },
        'gw-b.test:8090': ok(),
      }),
      { baseUrls: [BASE_A, BASE_B] },
    );
    const error = await failure(client.post('/api/v1/withdrawals', { asset: 'BTC' }));
    expect(error.code).toBe('CONNECTION_FAILED');
    expect(fake.calls).toHaveLength(1);
  });

  it('does not move a plain POST on 502', async () => {
    const { client, fake } = setup(
      byHost({ 'gw-a.test:8090': denial(502, 'UPSTREAM_UNAVAILABLE'), 'gw-b.test:8090': ok() }),
      { baseUrls: [BASE_A, BASE_B] },
    );
    const error = await failure(client.post('/api/v1/withdrawals', { asset: 'BTC' }));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(fake.calls).toHaveLength(1);
  });

  it('backs off when it comes back round to a URL already tried', async () => {
    const { client, fake, waits } = setup(() => ({ throws: connectionError('ECONNREFUSED') }), {
      baseUrls: [BASE_A, BASE_B],
      maxRetries: 3,
      retryBaseDelayMs: 100,
    });
    const error = await failure(client.get('/api/v1/balances'));
    expect(error.code).toBe('CONNECTION_FAILED');
    expect(fake.calls.map((c) => c.url.host)).toEqual([
      'gw-a.test:8090',
      'gw-b.test:8090',
      'gw-a.test:8090',
      'gw-b.test:8090',
    ]);
    expect(waits).toEqual([200, 400]);
  });
});

describe('errors', () => {
  it('maps the native envelope to code, status and request id', async () => {
    const { client } = setup(() => denial(401, 'SIGNATURE_INVALID'));
    const error = await failure(client.get('/api/v1/balances'));
    expect(error).toMatchObject({
      code: 'SIGNATURE_INVALID',
      status: 401,
      requestId: 'req_denied1',
    });
  });

  it('never puts the secret, the signature or the query in the message', async () => {
    const { client, fake } = setup(() => denial(401, 'SIGNATURE_INVALID'));
    const error = await failure(client.get('/api/v1/orders', { query: { symbol: 'PRIVATE123' } }));
    const signature = fake.calls[0]!.headers.signature!;
    const text = `${error.message} ${JSON.stringify(error)} ${String(error.stack)}`;
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(signature.slice(6, -1));
    expect(text).not.toContain('PRIVATE123');
  });

  it('answers HTTP_<status> and the X-Request-Id header when there is no envelope', async () => {
    const { client } = setup(() => ({
      status: 500,
      body: 'oops',
      headers: { 'x-request-id': 'req_x1' },
    }));
    const error = await failure(client.delete('/api/v1/orders/ord_1', {}));
    expect(error).toMatchObject({ code: 'HTTP_500', status: 500, requestId: 'req_x1' });
  });

  it('does not follow redirects with a signed request', async () => {
    const { client, fake } = setup(() => ({
      status: 302,
      headers: { location: 'http://elsewhere.test/' },
    }));
    const response = await client.get('/api/v1/balances');
    expect([response.status, fake.calls[0]!.redirect]).toEqual([302, 'manual']);
  });

  it('reports TIMEOUT when no answer comes in time', async () => {
    const clock = createManualClock(START_MS);
    const client = createClient({
      baseUrls: [BASE_A],
      keyId: KEY_ID,
      secret: SECRET,
      clock,
      timeOffsetMs: 0,
      timeoutMs: 5,
      maxRetries: 0,
      fetch: (_url, init) =>
        new Promise((_resolve, reject) =>
          init.signal.addEventListener('abort', () => reject(new Error('aborted'))),
        ),
    });
    const error = await failure(client.get('/api/v1/balances'));
    expect(error).toMatchObject({ code: 'TIMEOUT', status: 0 });
  });
});

describe('pacing', () => {
  it('waits for the reset before the next request when RateLimit reports r=0', async () => {
    const { client, waits } = setup((_c, i) =>
      i === 0 ? ok({}, { ratelimit: '"key";r=0;t=3, "account";r=50;t=60' }) : ok(),
    );
    await client.get('/api/v1/balances');
    await client.get('/api/v1/balances');
    expect(waits).toEqual([3_000]);
  });

  it('holds the next request after a 429 that was not retried', async () => {
    const { client, waits } = setup((_c, i) =>
      i === 0 ? denial(429, 'RATE_LIMITED', { 'retry-after': '5' }) : ok(),
    );
    await failure(client.post('/api/v1/withdrawals', { asset: 'BTC' }));
    await client.get('/api/v1/balances');
    expect(waits).toEqual([5_000]);
  });
});

describe('sandbox calls', () => {
  it('places an order with a generated clientOrderId, so it is retried safely', async () => {
    const { client, fake } = setup((_c, i) =>
      i === 0 ? denial(503, 'REPLAY_CHECK_UNAVAILABLE') : { status: 201, body: { id: 'ord_1' } },
    );
    const order = await client.placeOrder({
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'market',
      quantity: '0.01',
    });
    expect(order.id).toBe('ord_1');
    const bodies = fake.calls.map(
      (c) => JSON.parse(c.body.toString('utf8')) as { clientOrderId: string },
    );
    expect(bodies[0]!.clientOrderId).toMatch(/^[.A-Za-z0-9:/_-]{1,36}$/);
    expect(bodies[1]!.clientOrderId).toBe(bodies[0]!.clientOrderId);
  });

  it('unwraps balances and open orders', async () => {
    const { client, fake } = setup((call) =>
      call.url.pathname === '/api/v1/balances'
        ? ok({ balances: [{ asset: 'BTC', free: '2', locked: '0' }] })
        : ok({ orders: [] }),
    );
    expect(await client.getBalances()).toEqual([{ asset: 'BTC', free: '2', locked: '0' }]);
    expect(await client.listOrders({ symbol: 'BTCUSDT' })).toEqual([]);
    expect(fake.calls[1]!.url.search).toBe('?symbol=BTCUSDT');
  });

  it('cancels by id with DELETE', async () => {
    const { client, fake } = setup(() => ok({ id: 'ord_7', status: 'canceled' }));
    await client.cancelOrder('ord_7');
    expect([fake.calls[0]!.method, fake.calls[0]!.url.pathname]).toEqual([
      'DELETE',
      '/api/v1/orders/ord_7',
    ]);
  });
});
