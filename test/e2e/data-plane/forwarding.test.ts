/**
 * Forwarding against a real `portcullis start`: the sandbox environment forwards to a test
 * upstream that records what it receives (and hangs when asked), with a 500 ms upstream timeout
 * and 127.0.0.1 as a trusted proxy; the production environment forwards to a closed port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, type CliKey } from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import {
  closedPort,
  codeOf,
  NO_LIMITS,
  send,
  signed,
  startTestUpstream,
  writeConfig,
  type Answer,
  type SignOptions,
  type TestUpstream,
} from './helpers.js';

const configDir = createTempDir('portcullis-dp-forward-');
let upstream: TestUpstream;
let server: ServerHandle;
let sandboxUrl: string;
let productionUrl: string;
let accountId: string;
let trader: CliKey;
let liveTrader: CliKey;
let restricted: CliKey;

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const call = (
  method: string,
  target: string,
  body: unknown,
  key: CliKey,
  options: SignOptions & { base?: string } = {},
): Promise<Answer> => send(signed(options.base ?? sandboxUrl, method, target, body, key, options));

beforeAll(async () => {
  upstream = await startTestUpstream();
  const config = writeConfig(configDir.path, {
    dataPlane: { trustedProxies: ['127.0.0.1/32'] },
    environments: {
      sandbox: { ...NO_LIMITS, upstream: upstream.url, upstreamTimeout: '500ms' },
      production: { ...NO_LIMITS, upstream: `http://127.0.0.1:${await closedPort()}` },
    },
  });
  try {
    server = await startServer({ args: ['--config', config] });
    sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
    productionUrl = (server.info.dataPlanes.production as { url: string }).url;
    accountId = await cliCreateAccount(server.dataDir, 'forwarding');
    [trader, liveTrader, restricted] = await Promise.all([
      cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade' }),
      cliCreateKey(server.dataDir, { accountId, env: 'production' }),
      cliCreateKey(server.dataDir, { accountId, extra: ['--ip', '10.0.0.0/8'] }),
    ]);
  } catch (error) {
    await server?.cleanup();
    await upstream.close();
    throw error;
  }
}, 90_000);

afterAll(async () => {
  await server?.cleanup();
  await upstream?.close();
  configDir.remove();
});

describe('what the upstream receives', () => {
  it('identity headers from the key, and the request id the client is given', async () => {
    const answer = await call('GET', '/api/v1/account', undefined, trader);
    expect(answer.status).toBe(200);
    const echo = answer.body as unknown as Echo;
    expect(echo.headers).toMatchObject({
      'x-portcullis-account': accountId,
      'x-portcullis-key': trader.id,
      'x-portcullis-scopes': 'read,trade',
    });
    expect(echo.headers['x-request-id']).toMatch(/^req_/);
  });

  it('the request id upstream is the one in the answer header', async () => {
    const request = signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, trader);
    const response = await fetch(request.url, { headers: request.headers });
    const echo = (await response.json()) as Echo;
    expect(echo.headers['x-request-id']).toBe(response.headers.get('x-request-id'));
  });

  it('credentials are stripped: no Signature, Signature-Input or Authorization upstream', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      headers: { authorization: 'Bearer client-token' },
    });
    const echo = answer.body as unknown as Echo;
    expect(Object.keys(echo.headers)).not.toContain('signature');
    expect(Object.keys(echo.headers)).not.toContain('signature-input');
    expect(Object.keys(echo.headers)).not.toContain('authorization');
    expect(answer.text).not.toContain(trader.secret as string);
  });

  it('forged identity headers and X-Request-Id from the client are replaced', async () => {
    const answer = await call('GET', '/api/v1/account', undefined, trader, {
      headers: {
        'x-portcullis-account': 'acc_forged0000000',
        'x-portcullis-key': 'pk_test_forged00000000',
        'x-portcullis-scopes': 'withdraw',
        'x-portcullis-upstream-token': 'forged',
        'x-request-id': 'req_forged',
      },
    });
    const echo = answer.body as unknown as Echo;
    expect(echo.headers['x-portcullis-account']).toBe(accountId);
    expect(echo.headers['x-portcullis-key']).toBe(trader.id);
    expect(echo.headers['x-portcullis-scopes']).toBe('read,trade');
    expect(echo.headers['x-portcullis-upstream-token']).toBeUndefined();
    expect(echo.headers['x-request-id']).not.toBe('req_forged');
  });

  it('exactly the verified bytes: raw query and body unchanged, other headers kept', async () => {
    const raw = Buffer.from(
      '{"symbol":"BTCUSDT", "side":"buy","type":"market","quantity":"0.010"}',
    );
    const answer = await call('POST', '/api/v1/orders', undefined, trader, {
      rawBody: raw,
      headers: { 'x-client-tag': 'keep-me' },
    });
    const echo = answer.body as unknown as Echo;
    expect(echo.body).toBe(raw.toString());
    expect(echo.headers['x-client-tag']).toBe('keep-me');
    expect(echo.headers['content-digest']).toBeDefined();
    const query = await call('GET', '/api/v1/orders?symbol=BTC%2FUSDT&limit=5', undefined, trader);
    expect((query.body as unknown as Echo).url).toBe('/api/v1/orders?symbol=BTC%2FUSDT&limit=5');
  });

  it('a denied request never reaches the upstream', async () => {
    const before = upstream.seen.length;
    const answer = await call('GET', '/api/v1/balances', undefined, trader, { secret: 'nope' });
    expect(codeOf(answer)).toBe('SIGNATURE_INVALID');
    expect(upstream.seen.length).toBe(before);
  });
});

describe('what the client receives', () => {
  // Answers up to 64 KiB of known length are read whole and sent in one piece; larger or
  // unknown-length ones are streamed. Either way the client gets every byte.
  it.each([
    ['small, buffered', '1000', 1000],
    ['64 KiB exactly, buffered', String(64 * 1024), 64 * 1024],
    ['large, streamed', String(300 * 1024), 300 * 1024],
    ['without a length, streamed', 'chunked-200000', 200_000],
    ['empty', '0', 0],
  ])('%s: every byte arrives', async (_what, shape, bytes) => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      headers: { 'x-test-answer': shape },
    });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('a'.repeat(bytes));
  });

  it('a small answer cut short by the upstream → 502 UPSTREAM_UNAVAILABLE, never a truncated 200', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      headers: { 'x-test-answer': 'cut-1000' },
    });
    expect(answer.status).toBe(502);
    expect(codeOf(answer)).toBe('UPSTREAM_UNAVAILABLE');
  });
});

describe('upstream failures', () => {
  it('an upstream that does not answer in time → 504 UPSTREAM_TIMEOUT', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      headers: { 'x-test-hang': '1' },
    });
    expect(answer.status).toBe(504);
    expect(codeOf(answer)).toBe('UPSTREAM_TIMEOUT');
  });

  it('an unreachable upstream → 502 UPSTREAM_UNAVAILABLE', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, liveTrader, {
      base: productionUrl,
    });
    expect(answer.status).toBe(502);
    expect(codeOf(answer)).toBe('UPSTREAM_UNAVAILABLE');
  });

  it('a public route to an unreachable upstream → 502 too', async () => {
    const response = await fetch(`${productionUrl}/api/v1/time`);
    expect(response.status).toBe(502);
    expect(((await response.json()) as Answer['body']).error?.code).toBe('UPSTREAM_UNAVAILABLE');
  });
});

describe('client IP behind a trusted proxy (127.0.0.1/32)', () => {
  const fromHops = (xff: string) =>
    call('GET', '/api/v1/balances', undefined, restricted, { headers: { 'x-forwarded-for': xff } });

  it.each([
    ['the proxy saw 10.1.1.1', '10.1.1.1', 200],
    ['a forged left-most hop is not believed', '10.9.9.9, 192.0.2.7', 403],
    ['the right-most untrusted hop decides', '192.0.2.7, 10.1.1.1', 200],
    ['trusted hops on the right are skipped', '10.1.1.1, 127.0.0.1', 200],
    ['a garbage hop stops the walk at the proxy', 'garbage', 403],
  ])('%s (%s) → %i', async (_name, xff, status) => {
    const answer = await fromHops(xff);
    expect(answer.status).toBe(status);
    if (status === 403) expect(codeOf(answer)).toBe('IP_NOT_ALLOWED');
  });

  it('without X-Forwarded-For the trusted peer itself is the client', async () => {
    expect(codeOf(await call('GET', '/api/v1/balances', undefined, restricted))).toBe(
      'IP_NOT_ALLOWED',
    );
  });
});
