/**
 * Issue 3's "Done when", against real processes and real sockets: a signed order reaches the
 * sandbox exchange and comes back; every reason code is produced by a request built to trigger
 * it; revocation and rotation through the CLI take effect on the next request; a sandbox key is
 * refused on production.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import {
  cliCreateAccount,
  cliCreateKey,
  cliJson,
  cliRevokeKey,
  cliRotateKey,
  type CliKey,
} from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';

interface Answer {
  status: number;
  body: { error?: { code: string; requestId: string } } & Record<string, unknown>;
}

let server: ServerHandle;
let sandboxUrl: string;
let productionUrl: string;
let accountId: string;
let trader: CliKey;

const nonce = () => randomBytes(16).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface SignOptions {
  keyId?: string;
  secret?: string;
  createdSeconds?: number;
  sendBody?: Buffer;
  dropNonce?: boolean;
  base?: string;
}

/** Signs a request natively and sends it; options break one thing at a time. */
function signed(
  method: string,
  path: string,
  body: unknown,
  key: CliKey,
  options: SignOptions = {},
) {
  const q = path.indexOf('?');
  const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  let headers: Record<string, string> = {
    ...signNativeRequest({
      method,
      path: q < 0 ? path : path.slice(0, q),
      rawQuery: q < 0 ? null : path.slice(q + 1),
      body: bytes,
      keyId: options.keyId ?? key.id,
      secret: options.secret ?? (key.secret as string),
      createdSeconds: options.createdSeconds ?? nowSeconds(),
      nonce: nonce(),
    }),
  };
  if (options.dropNonce) {
    headers = {
      ...headers,
      'signature-input': headers['signature-input']!.replace(/;nonce="[^"]*"/, ''),
    };
  }
  if (bytes.length > 0) headers['content-type'] = 'application/json';
  return {
    method,
    url: `${options.base ?? sandboxUrl}${path}`,
    headers,
    body: options.sendBody ?? bytes,
  };
}

async function send(request: {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}): Promise<Answer> {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    ...(request.body.length > 0 ? { body: request.body } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Answer['body'] };
}

const call = (method: string, path: string, body: unknown, key: CliKey, options?: SignOptions) =>
  send(signed(method, path, body, key, options));

const order = { symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: '0.01' };

beforeAll(async () => {
  server = await startServer();
  sandboxUrl = server.info.dataPlanes.sandbox!.url;
  productionUrl = server.info.dataPlanes.production!.url;
  accountId = await cliCreateAccount(server.dataDir);
  trader = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade' });
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
});

describe('an allowed request', () => {
  it('a signed order reaches the sandbox exchange and its answer comes back', async () => {
    const answer = await call('POST', '/api/v1/orders', order, trader);
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ symbol: 'BTCUSDT', status: 'filled' });
    const balances = await call('GET', '/api/v1/balances', undefined, trader);
    expect(balances.status).toBe(200);
    expect(JSON.stringify(balances.body)).toContain('"BTC"');
  });

  it('a public route needs no key', async () => {
    const response = await fetch(`${sandboxUrl}/api/v1/time`);
    expect(response.status).toBe(200);
  });
});

describe('every reason code, from a request built to trigger it', () => {
  it('CREDENTIALS_MISSING: no signature at all', async () => {
    const response = await fetch(`${sandboxUrl}/api/v1/balances`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as Answer['body']).error?.code).toBe('CREDENTIALS_MISSING');
  });

  it('SIGNATURE_MALFORMED: a Signature-Input without its nonce', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, { dropNonce: true });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('SIGNATURE_MALFORMED');
  });

  it('SIGNATURE_INVALID: signed with the wrong secret', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      secret: 'psk_wrong',
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe('SIGNATURE_INVALID');
  });

  it('KEY_UNKNOWN is answered exactly like SIGNATURE_INVALID', async () => {
    const unknown = await call('GET', '/api/v1/balances', undefined, trader, {
      keyId: 'pk_test_DoesNotExist00000000',
    });
    const bad = await call('GET', '/api/v1/balances', undefined, trader, { secret: 'psk_wrong' });
    const strip = (a: Answer) => ({
      status: a.status,
      code: a.body.error?.code,
      message: (a.body.error as { message?: string } | undefined)?.message,
    });
    expect(strip(unknown)).toEqual(strip(bad));
  });

  it('TIMESTAMP_OUTSIDE_WINDOW: created a minute ago', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      createdSeconds: nowSeconds() - 60,
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe('TIMESTAMP_OUTSIDE_WINDOW');
  });

  it('NONCE_REPLAYED: the same signed request twice', async () => {
    const request = signed('GET', '/api/v1/balances', undefined, trader);
    expect((await send(request)).status).toBe(200);
    const replay = await send(request);
    expect(replay.status).toBe(401);
    expect(replay.body.error?.code).toBe('NONCE_REPLAYED');
  });

  it('DIGEST_MISMATCH: the body changed after signing', async () => {
    const request = signed('POST', '/api/v1/orders', order, trader, {
      sendBody: Buffer.from(JSON.stringify({ ...order, quantity: '9.99' })),
    });
    const answer = await send(request);
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe('DIGEST_MISMATCH');
  });

  it('ENV_MISMATCH: a sandbox key on the production listener', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      base: productionUrl,
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe('ENV_MISMATCH');
  });

  it('IP_NOT_ALLOWED: a key allowlisted for 10.0.0.0/8 called from 127.0.0.1', async () => {
    const restricted = await cliCreateKey(server.dataDir, {
      accountId,
      extra: ['--ip', '10.0.0.0/8'],
    });
    const request = signed('GET', '/api/v1/balances', undefined, restricted);
    request.headers['x-forwarded-for'] = '10.1.2.3'; // from an untrusted peer: ignored
    const answer = await send(request);
    expect(answer.status).toBe(403);
    expect(answer.body.error?.code).toBe('IP_NOT_ALLOWED');
  });

  it('SCOPE_MISSING: a read-only key placing an order', async () => {
    const reader = await cliCreateKey(server.dataDir, { accountId, scopes: 'read' });
    const answer = await call('POST', '/api/v1/orders', order, reader);
    expect(answer.status).toBe(403);
    expect(answer.body.error?.code).toBe('SCOPE_MISSING');
  });

  it('ROUTE_UNKNOWN: a signed request to a path no route matches', async () => {
    const answer = await call('GET', '/api/v1/nowhere', undefined, trader);
    expect(answer.status).toBe(404);
    expect(answer.body.error?.code).toBe('ROUTE_UNKNOWN');
  });

  it('KEY_EXPIRED: a key past its expiry', async () => {
    const shortLived = await cliCreateKey(server.dataDir, {
      accountId,
      extra: ['--expires-in', '1s'],
    });
    const deadline = Date.now() + 10_000;
    let answer = await call('GET', '/api/v1/balances', undefined, shortLived);
    while (answer.body.error?.code !== 'KEY_EXPIRED' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await call('GET', '/api/v1/balances', undefined, shortLived);
    }
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe('KEY_EXPIRED');
  });

  it('BAD_REQUEST: duplicate query parameters and duplicate JSON keys on a signed route', async () => {
    const query = await call(
      'GET',
      '/api/v1/orders?symbol=BTCUSDT&symbol=ETHUSDT',
      undefined,
      trader,
    );
    expect(query.status).toBe(400);
    expect(query.body.error?.code).toBe('BAD_REQUEST');
    const raw = Buffer.from(
      '{"symbol":"BTCUSDT","side":"buy","type":"market","quantity":"0.01","quantity":"100"}',
    );
    const request = signed('POST', '/api/v1/orders', undefined, trader);
    const headers = signNativeRequest({
      method: 'POST',
      path: '/api/v1/orders',
      rawQuery: null,
      body: raw,
      keyId: trader.id,
      secret: trader.secret as string,
      createdSeconds: nowSeconds(),
      nonce: nonce(),
    });
    const answer = await send({
      ...request,
      headers: { ...headers, 'content-type': 'application/json' },
      body: raw,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('BAD_REQUEST');
  });

  it('BODY_TOO_LARGE: a body over 64 KiB is refused with 413 before any verification', async () => {
    const response = await fetch(`${sandboxUrl}/api/v1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(70 * 1024, 0x20),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as Answer['body']).error?.code).toBe('BODY_TOO_LARGE');
  });
});

describe('changes through the CLI take effect on the next request', () => {
  it('a revoked key is refused on the very next request', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId });
    expect((await call('GET', '/api/v1/balances', undefined, key)).status).toBe(200);
    await cliRevokeKey(server.dataDir, key.id);
    const answer = await call('GET', '/api/v1/balances', undefined, key);
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe('KEY_REVOKED');
  });

  it('after rotation with grace 0s the old secret is refused at once and the new one works', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId });
    const rotated = await cliRotateKey(server.dataDir, key.id, '0s');
    expect(rotated.secret).not.toBe(key.secret);
    expect((await call('GET', '/api/v1/balances', undefined, key)).body.error?.code).toBe(
      'SIGNATURE_INVALID',
    );
    expect(
      (
        await call('GET', '/api/v1/balances', undefined, {
          ...key,
          secret: rotated.secret as string,
        })
      ).status,
    ).toBe(200);
  });

  it('within the grace period the old secret verifies, and after it, it does not', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId });
    // Taken before the rotation starts: the grace ends 2 s after the server applied it, which is
    // no earlier than this (the CLI's own run time must not eat into the measured grace).
    const rotatedAt = Date.now();
    const rotated = await cliRotateKey(server.dataDir, key.id, '2s');
    expect((await call('GET', '/api/v1/balances', undefined, key)).status).toBe(200);
    expect(
      (
        await call('GET', '/api/v1/balances', undefined, {
          ...key,
          secret: rotated.secret as string,
        })
      ).status,
    ).toBe(200);
    let answer = await call('GET', '/api/v1/balances', undefined, key);
    while (answer.status === 200 && Date.now() - rotatedAt < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await call('GET', '/api/v1/balances', undefined, key);
    }
    expect(answer.body.error?.code).toBe('SIGNATURE_INVALID');
    expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual(1_900);
  });

  it('a scope removed through the CLI is refused on the next request', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade' });
    expect((await call('POST', '/api/v1/orders', order, key)).status).toBe(201);
    await cliJson(['keys', 'update', key.id, '--scopes', 'read'], server.dataDir);
    expect((await call('POST', '/api/v1/orders', order, key)).body.error?.code).toBe(
      'SCOPE_MISSING',
    );
  });
});
