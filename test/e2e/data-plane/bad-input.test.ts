/**
 * Bad input against a real `portcullis start` on real sockets: oversized bodies refused before
 * any verification, duplicates on signed routes, malformed structured fields and signatures,
 * header floods, slow clients; nothing answers 500 and no secret reaches a response or a log line.
 * The server runs with `dataPlane.headersTimeout: 1s` and debug logging (to check every line).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, type CliKey } from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import {
  codeOf,
  NO_LIMITS,
  rawExchange,
  send,
  signed,
  writeConfig,
  type Answer,
  type PreparedRequest,
} from './helpers.js';

const configDir = createTempDir('portcullis-dp-bad-');
let server: ServerHandle;
let sandboxUrl: string;
let trader: CliKey;

const ORDER = { symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: '0.01' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const config = writeConfig(configDir.path, {
    dataPlane: { headersTimeout: '1s' },
    environments: { sandbox: NO_LIMITS, production: NO_LIMITS },
  });
  server = await startServer({
    args: ['--config', config],
    env: { PORTCULLIS_LOG_LEVEL: 'debug' },
  });
  try {
    sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
    const accountId = await cliCreateAccount(server.dataDir, 'bad-input');
    trader = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade' });
  } catch (error) {
    await server.cleanup();
    throw error;
  }
}, 90_000);

afterAll(async () => {
  await server?.cleanup();
  configDir.remove();
});

const signedOrder = (options: Parameters<typeof signed>[5] = {}) =>
  signed(sandboxUrl, 'POST', '/api/v1/orders', ORDER, trader, options);

/** A signed balance read whose Signature-Input or Signature was changed after signing. */
function tampered(change: {
  input?: (value: string) => string;
  signature?: (value: string) => string;
}): PreparedRequest {
  const request = signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, trader);
  const headers = { ...request.headers };
  if (change.input) headers['signature-input'] = change.input(headers['signature-input'] ?? '');
  if (change.signature) headers.signature = change.signature(headers.signature ?? '');
  return { ...request, headers };
}

describe('oversized bodies (limit 64 KiB)', () => {
  const big = Buffer.alloc(65 * 1024, 0x61);

  it('a body over 64 KiB with NO credentials gets 413, not 401: refused before verification', async () => {
    const answer = await send({
      method: 'POST',
      url: `${sandboxUrl}/api/v1/orders`,
      headers: { 'content-type': 'application/json' },
      body: big,
    });
    expect(answer.status).toBe(413);
    expect(codeOf(answer)).toBe('BODY_TOO_LARGE');
  });

  it('a validly signed body over 64 KiB gets 413', async () => {
    const answer = await send(
      signedOrder({ rawBody: Buffer.from(JSON.stringify({ pad: 'x'.repeat(70_000) })) }),
    );
    expect(answer.status).toBe(413);
    expect(codeOf(answer)).toBe('BODY_TOO_LARGE');
  });

  it('an announced Content-Length over the limit is refused without reading the body', async () => {
    const exchange = await rawExchange(
      sandboxUrl,
      [
        'POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Content-Length: 10000000\r\n\r\n{"a":',
      ],
      { waitMs: 5000 },
    );
    expect(exchange.status).toBe(413);
  });

  it('a chunked body that grows past the limit gets 413', async () => {
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    const head = `${chunk.length.toString(16)}\r\n`;
    const chunks: (string | Buffer)[] = [
      'POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n',
    ];
    for (let i = 0; i < 6; i++) chunks.push(head, chunk, '\r\n');
    chunks.push('0\r\n\r\n');
    // Paced, so that the server has read everything sent when it answers: closing with unread
    // bytes would reset the connection and could discard the answer before the client reads it.
    const exchange = await rawExchange(sandboxUrl, chunks, { waitMs: 5000, delayMs: 10 });
    expect(exchange.status).toBe(413);
  });

  it('a body just under the limit is read and verified (here: a bad signature)', async () => {
    const answer = await send(
      signedOrder({
        rawBody: Buffer.from(JSON.stringify({ pad: 'x'.repeat(60_000) })),
        secret: 'psk_wrong',
      }),
    );
    expect(codeOf(answer)).toBe('SIGNATURE_INVALID');
  });
});

describe('duplicates on signed routes → 400 BAD_REQUEST', () => {
  it.each([
    ['a repeated query parameter', '/api/v1/orders?symbol=BTCUSDT&symbol=ETHUSDT'],
    ['a percent-encoded repeat', '/api/v1/orders?symbol=BTCUSDT&%73ymbol=ETHUSDT'],
  ])('%s', async (_name, target) => {
    const answer = await send(signed(sandboxUrl, 'GET', target, undefined, trader));
    expect({ status: answer.status, code: codeOf(answer) }).toEqual({
      status: 400,
      code: 'BAD_REQUEST',
    });
  });

  it.each([
    [
      'a repeated JSON key',
      '{"symbol":"BTCUSDT","side":"buy","type":"market","quantity":"0.01","quantity":"100"}',
    ],
    [
      'a JSON key repeated as \\u0071uantity',
      '{"symbol":"BTCUSDT","side":"buy","type":"market","quantity":"0.01","\\u0071uantity":"100"}',
    ],
    [
      'a repeated key in a withdrawal as \\u0061mount',
      '{"asset":"USDT","amount":"1","\\u0061mount":"1000","address":"addr"}',
    ],
  ])('%s', async (_name, text) => {
    const target = text.includes('asset') ? '/api/v1/withdrawals' : '/api/v1/orders';
    const answer = await send(
      signed(sandboxUrl, 'POST', target, undefined, trader, { rawBody: Buffer.from(text) }),
    );
    expect({ status: answer.status, code: codeOf(answer) }).toEqual({
      status: 400,
      code: 'BAD_REQUEST',
    });
  });
  it('a repeated JSON key sent as text/plain is refused too (checked by content, not label)', async () => {
    const request = signed(sandboxUrl, 'POST', '/api/v1/orders', undefined, trader, {
      rawBody: Buffer.from('{"symbol":"BTCUSDT","quantity":"0.01","quantity":"100"}'),
      headers: { 'content-type': 'text/plain' },
    });
    const answer = await send(request);
    expect({ status: answer.status, code: codeOf(answer) }).toEqual({
      status: 400,
      code: 'BAD_REQUEST',
    });
  });
});

describe('malformed signature fields', () => {
  it.each([
    ['Signature-Input that is not a dictionary', { input: () => 'not a structured field' }],
    ['an unterminated inner list', { input: (v: string) => v.replace(')', '') }],
    [
      'a second member in Signature-Input',
      { input: (v: string) => `${v}, sig2=("@method");created=1` },
    ],
    [
      '`created` in milliseconds',
      { input: (v: string) => v.replace(/;created=(\d+)/, ';created=$1000') },
    ],
    ['a negative `created`', { input: (v: string) => v.replace(/;created=(\d+)/, ';created=-$1') }],
    [
      'a non-numeric `created`',
      { input: (v: string) => v.replace(/;created=(\d+)/, ';created="$1"') },
    ],
    ['a decimal `created`', { input: (v: string) => v.replace(/;created=(\d+)/, ';created=$1.5') }],
    ['an unknown `alg`', { input: (v: string) => v.replace('hmac-sha256', 'rsa-v1_5-sha256') }],
    ['Signature that is not a byte sequence', { signature: () => 'sig1="abc"' }],
    [
      'a signature of the wrong length (16 bytes)',
      { signature: () => `sig1=:${Buffer.alloc(16, 1).toString('base64')}:` },
    ],
    [
      'an hmac signature of Ed25519 length (64 bytes)',
      { signature: () => `sig1=:${Buffer.alloc(64, 1).toString('base64')}:` },
    ],
    [
      'a base64url signature',
      {
        signature: (v: string) =>
          v
            .replace(/\+/g, '-')
            .replace(/\//g, '_')
            .replace(/=:$/, ':')
            .replace(/:([^:]*):$/, ':$1-_:'),
      },
    ],
    ['a signature without padding', { signature: (v: string) => v.replace(/=+:$/, ':') }],
    [
      'a label that differs from Signature-Input',
      { signature: (v: string) => v.replace(/^sig1=/, 'sig2=') },
    ],
  ])('%s → 400 SIGNATURE_MALFORMED', async (_name, change) => {
    const answer = await send(tampered(change));
    expect({ status: answer.status, code: codeOf(answer) }).toEqual({
      status: 400,
      code: 'SIGNATURE_MALFORMED',
    });
  });

  it('a signature of the right length but wrong bytes → 401 SIGNATURE_INVALID', async () => {
    const answer = await send(
      tampered({ signature: () => `sig1=:${Buffer.alloc(32, 7).toString('base64')}:` }),
    );
    expect({ status: answer.status, code: codeOf(answer) }).toEqual({
      status: 401,
      code: 'SIGNATURE_INVALID',
    });
  });

  it('a Content-Digest that is not a dictionary → 4xx, never 500', async () => {
    const request = signedOrder();
    const answer = await send({
      ...request,
      headers: { ...request.headers, 'content-digest': 'sha-256=not-a-byte-sequence' },
    });
    expect([400, 401]).toContain(answer.status);
  });
});

describe('header floods and slow clients', () => {
  it('a header block over 16 KiB → 431', async () => {
    const exchange = await rawExchange(sandboxUrl, [
      `GET /api/v1/time HTTP/1.1\r\nHost: x\r\nX-Flood: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
    ]);
    expect(exchange.status).toBe(431);
  });

  it('many small headers adding up to over 16 KiB → 431', async () => {
    const headers = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'b'.repeat(40)}\r\n`).join(
      '',
    );
    const exchange = await rawExchange(sandboxUrl, [
      `GET /api/v1/time HTTP/1.1\r\nHost: x\r\n${headers}\r\n`,
    ]);
    expect(exchange.status).toBe(431);
  });

  it('a client sending its headers byte by byte slower than the 1 s headers timeout is cut off', async () => {
    const text = 'GET /api/v1/time HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'z'.repeat(200) + '\r\n\r\n';
    const started = Date.now();
    const exchange = await rawExchange(sandboxUrl, [...text], { delayMs: 100, waitMs: 15_000 });
    // Cut off long before the ~24 s the whole header block would take at this pace.
    expect(exchange.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(exchange.status === undefined || exchange.status === 408).toBe(true);
  });
});

describe('nothing answers 500', () => {
  const odd: [string, PreparedRequest | (() => PreparedRequest)][] = [
    [
      'an unknown method-less path',
      { method: 'GET', url: '/', headers: {}, body: Buffer.alloc(0) },
    ],
    [
      'OPTIONS on a private route',
      { method: 'OPTIONS', url: '/api/v1/orders', headers: {}, body: Buffer.alloc(0) },
    ],
    [
      'a body that is not JSON on a signed route',
      () => signedOrder({ rawBody: Buffer.from('{"symbol":') }),
    ],
    [
      'a body that is not UTF-8',
      () => signedOrder({ rawBody: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) }),
    ],
    [
      'a form body with repeated fields on the order route',
      () => {
        const request = signedOrder({ rawBody: Buffer.from('a=1&a=2') });
        return {
          ...request,
          headers: { ...request.headers, 'content-type': 'application/x-www-form-urlencoded' },
        };
      },
    ],
    ['an empty Signature field', () => tampered({ signature: () => '' })],
    [
      'a huge Signature-Input',
      () => tampered({ input: (v) => v + ';x="' + 'y'.repeat(8000) + '"' }),
    ],
    [
      'a query that is only `&&&`',
      () => signed(sandboxUrl, 'GET', '/api/v1/orders?&&&', undefined, trader),
    ],
    [
      'an invalid percent-encoding in the query',
      () => signed(sandboxUrl, 'GET', '/api/v1/orders?%zz=1', undefined, trader),
    ],
  ];

  it.each(odd)('%s', async (_name, build) => {
    const request = typeof build === 'function' ? build() : build;
    const url = request.url.startsWith('/') ? `${sandboxUrl}${request.url}` : request.url;
    const answer = await send({ ...request, url });
    expect(answer.status).toBeLessThan(500);
  });

  it('an invalid HTTP request line is answered 400 by the server, not 500', async () => {
    const exchange = await rawExchange(sandboxUrl, ['GARBAGE\r\n\r\n']);
    expect(exchange.status === undefined || exchange.status < 500).toBe(true);
  });

  it('Content-Length and Transfer-Encoding together are refused', async () => {
    const exchange = await rawExchange(sandboxUrl, [
      'POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ]);
    expect(exchange.status === undefined || exchange.status === 400).toBe(true);
  });
});

describe('no secret in any response or log line', () => {
  it('neither the HMAC secret nor a signature value appears in responses or in stdout/stderr', async () => {
    const secret = trader.secret as string;
    const answers: Answer[] = [];
    const signatures: string[] = [];
    const track = async (request: PreparedRequest) => {
      signatures.push((request.headers.signature ?? '').replace(/^sig1=:|:$/g, ''));
      answers.push(await send(request));
    };
    await track(signedOrder());
    await track(signedOrder({ secret: 'psk_wrong_secret_value' }));
    await track(signed(sandboxUrl, 'GET', '/api/v1/nowhere', undefined, trader));
    await track(
      signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, trader, { createdSeconds: 1 }),
    );
    await track(signedOrder({ sendBody: Buffer.from('{"tampered":true}') }));
    await track(tampered({ input: (v) => v.replace(/;nonce="[^"]*"/, '') }));
    const replayed = signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, trader);
    await track(replayed);
    await track(replayed);

    expect(answers.map((a) => a.status)).toEqual([201, 401, 404, 401, 401, 400, 200, 401]);
    // Wait (bounded) until the denial of the last request has been logged.
    const lastId = answers.at(-1)?.body.error?.requestId ?? 'missing';
    const deadline = Date.now() + 5000;
    while (!server.stdout().includes(lastId) && Date.now() < deadline) await sleep(50);
    const logs = server.stdout() + server.stderr();
    expect(logs).toContain(lastId);

    for (const needle of [secret, ...signatures, 'psk_wrong_secret_value']) {
      expect(needle.length).toBeGreaterThan(20);
      expect(logs).not.toContain(needle);
      for (const answer of answers) expect(answer.text).not.toContain(needle);
    }
    expect(logs).not.toMatch(/signature-input|"signature"/i);
  });
});
